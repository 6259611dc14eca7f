/**
 * NumPy `.npy` and `.npz` (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * what OpenAI's reference batches (`VIRTUAL_imagenet256_labeled.npz`) and
 * our own statistics files use. Fortran-ordered arrays are transposed to
 * row-major on read. Object arrays (pickles) are refused.
 *
 * The header is the `repr()` of a Python dict, which numpy reads back with
 * `ast.literal_eval`. It is parsed here by a small strict parser for the
 * subset numpy writes and reads (numpy/lib/format.py `_read_array_header`,
 * `_filter_header`): a dict literal with string keys, whose values are
 * strings (single or double quoted, with escapes), `True`/`False`, integers
 * (with the `L` suffix of Python 2 in versions 1.0 and 2.0), and tuples or
 * lists of those. Anything else, a duplicate key, an unknown or missing key,
 * is a `CheckpointFormatError`; so is every dtype outside the ones read
 * here, with the real cause (object arrays, structured arrays, unsupported
 * element types). The data that follows must have exactly the size the
 * header implies.
 */
import { byteSwap, DTYPE_SIZE, type DType, gatherStrided, type HostTensor, numel, viewAs } from "./dtype.js";
import { type ByteSource, CheckpointFormatError, quoted } from "./source.js";
import { missingKey, type TensorInfo, type TensorStore } from "./store.js";
import { writeZipStored } from "./zip-write.js";
import { type ZipEntry, ZipReader } from "./zip.js";

/** The element types read here, by their numpy type code and size (`dtype.str` without the byte order). */
const DESCR = new Map<string, DType>([
  ["f8", "float64"],
  ["f4", "float32"],
  ["f2", "float16"],
  ["i8", "int64"],
  ["i4", "int32"],
  ["i2", "int16"],
  ["i1", "int8"],
  ["u1", "uint8"],
  ["b1", "bool"],
]);
const TO_DESCR = new Map<DType, string>([...DESCR].map(([k, v]) => [v, k]));
const READABLE = "float16, float32, float64, int8, int16, int32, int64, uint8 and bool";

export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * The largest header accepted (bytes). numpy itself refuses headers over
 * 10,000 characters unless the file is trusted (`max_header_size`); the
 * headers of the arrays read here are about 128 bytes.
 */
export const NPY_MAX_HEADER = 1 << 20;
/** numpy 1.x allows 32 dimensions, numpy 2.x 64. */
const MAX_RANK = 64;
/** Nesting of tuples and lists within the header (numpy's structured dtypes nest a few levels). */
const MAX_DEPTH = 32;


export interface NpyHeader {
  dtype: DType;
  shape: number[];
  fortran: boolean;
  bigEndian: boolean;
  /** Bytes from the start of the file (or npz member) to the array data. */
  dataOffset: number;
  /** The format version, `[major, minor]`: [1, 0], [2, 0] or [3, 0]. */
  version: [number, number];
  /** Bytes of array data the header implies: elements × element size. */
  nbytes: number;
}

/** The fixed part of a `.npy` file: magic, version and the header's length. */
export interface NpyPreamble {
  version: [number, number];
  /** Where the header text starts: 10 (version 1.0) or 12. */
  headerStart: number;
  /** The header length field: the header text with its padding and final newline. */
  headerLength: number;
  /** headerStart + headerLength: where the data starts. */
  dataOffset: number;
}

/** Parse the magic, version and header length (`bytes` holds at least the first 12 bytes, or the whole file when shorter). */
export function parseNpyPreamble(bytes: Uint8Array, name: string): NpyPreamble {
  if (bytes.length < 10 || !NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new CheckpointFormatError(`${name}: not a .npy array (bad magic)`);
  }
  const major = bytes[6];
  const minor = bytes[7];
  if ((major !== 1 && major !== 2 && major !== 3) || minor !== 0) {
    throw new CheckpointFormatError(`${name}: unsupported .npy format version ${major}.${minor} (numpy writes 1.0, 2.0 and 3.0)`);
  }
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) {
    throw new CheckpointFormatError(`${name}: .npy file is truncated inside its ${headerStart}-byte preamble`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (headerLength > NPY_MAX_HEADER) {
    throw new CheckpointFormatError(
      `${name}: .npy header length ${headerLength} bytes exceeds the ${NPY_MAX_HEADER}-byte limit (corrupt, or not a plain array)`,
    );
  }
  return { version: [major, minor], headerStart, headerLength, dataOffset: headerStart + headerLength };
}

/**
 * Parse a `.npy` header. `bytes` starts at the magic and holds at least the
 * whole header (`parseNpyPreamble(bytes).dataOffset` bytes); what follows is
 * not looked at.
 */
export function parseNpyHeader(bytes: Uint8Array, name: string): NpyHeader {
  const pre = parseNpyPreamble(bytes, name);
  if (pre.dataOffset > bytes.length) {
    throw new CheckpointFormatError(
      `${name}: .npy header is truncated (its length field says ${pre.headerLength} bytes, ${Math.max(0, bytes.length - pre.headerStart)} are there)`,
    );
  }
  const raw = bytes.subarray(pre.headerStart, pre.dataOffset);
  const text = pre.version[0] === 3 ? decodeUtf8(raw, name) : decodeLatin1(raw);
  const fields = new HeaderParser(text, pre.version[0] <= 2, name).parse();

  const unknown = [...fields.keys()].filter((k) => k !== "descr" && k !== "fortran_order" && k !== "shape");
  if (unknown.length) {
    throw new CheckpointFormatError(
      `${name}: .npy header has unknown key${unknown.length > 1 ? "s" : ""} ${listShown(unknown)} (a header has exactly 'descr', 'fortran_order' and 'shape')`,
    );
  }
  for (const k of ["descr", "fortran_order", "shape"]) {
    if (!fields.has(k)) throw new CheckpointFormatError(`${name}: .npy header has no '${k}' key`);
  }
  const { dtype, bigEndian } = dtypeOf(fields.get("descr")!, name);
  const fortranValue = fields.get("fortran_order")!;
  if (fortranValue.t !== "bool") {
    throw new CheckpointFormatError(`${name}: .npy header's fortran_order is ${describe(fortranValue)}, not True or False`);
  }
  const shape = shapeOf(fields.get("shape")!, DTYPE_SIZE[dtype], name);
  return {
    dtype,
    shape,
    fortran: fortranValue.v,
    bigEndian,
    dataOffset: pre.dataOffset,
    version: pre.version,
    nbytes: numel(shape) * DTYPE_SIZE[dtype],
  };
}

/** Check that `available` bytes of data follow the header: exactly what its dtype and shape need. */
export function checkNpyDataSize(h: NpyHeader, available: number, name: string): void {
  if (available === h.nbytes) return;
  const what = `${h.dtype} [${h.shape.join(", ")}] needs ${h.nbytes} bytes after the ${h.dataOffset}-byte header`;
  if (available < h.nbytes) {
    throw new CheckpointFormatError(`${name}: .npy data is truncated: ${what}, ${Math.max(0, available)} are there`);
  }
  throw new CheckpointFormatError(
    `${name}: .npy data is longer than its header says: ${what}, ${available} are there (${available - h.nbytes} extra bytes)`,
  );
}

function decodeLatin1(b: Uint8Array): string {
  // Not TextDecoder("latin1"): the WHATWG decoder maps 0x80-0x9f as windows-1252, Python's latin1 does not.
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

function decodeUtf8(b: Uint8Array, name: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(b);
  } catch {
    throw new CheckpointFormatError(`${name}: .npy version 3.0 header is not valid UTF-8`);
  }
}

// ---------------------------------------------------------------------------
// The header literal

/** A Python literal as the header parser returns it. */
type PyLit =
  | { t: "str"; v: string }
  | { t: "bool"; v: boolean }
  | { t: "int"; v: bigint }
  | { t: "tuple"; v: PyLit[] }
  | { t: "list"; v: PyLit[] };

const WHITESPACE = new Set([" ", "\t", "\n", "\r", "\f"]);
const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isNameChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
const SIMPLE_ESCAPES = new Map([
  ["\\", "\\"],
  ["'", "'"],
  ['"', '"'],
  ["a", "\x07"],
  ["b", "\b"],
  ["f", "\f"],
  ["n", "\n"],
  ["r", "\r"],
  ["t", "\t"],
  ["v", "\v"],
]);

function describe(v: PyLit): string {
  switch (v.t) {
    case "str":
      return `the string ${quoted(v.v, 60)}`;
    case "bool":
      return v.v ? "True" : "False";
    case "int":
      return `the integer ${quoted(String(v.v), 40).slice(1, -1)}`;
    case "tuple":
      return `a tuple of ${v.v.length}`;
    case "list":
      return `a list of ${v.v.length}`;
  }
}

class HeaderParser {
  private pos = 0;
  constructor(
    private readonly s: string,
    /** Versions 1.0 and 2.0: numpy drops the `L` of Python 2 long integers (`_filter_header`). */
    private readonly allowLongSuffix: boolean,
    private readonly name: string,
  ) {}

  private fail(what: string, at = this.pos): never {
    const near = at < this.s.length ? ` near ${quoted(this.s.slice(at, at + 24), 24)}` : " at the end";
    throw new CheckpointFormatError(`${this.name}: .npy header is not a valid header literal: ${what} at offset ${at}${near}`);
  }

  private unexpected(expected: string): never {
    const c = this.s[this.pos];
    if (c === undefined) this.fail(`unexpected end of header, expected ${expected}`);
    this.fail(`unexpected ${JSON.stringify(c)}, expected ${expected}`);
  }

  private ws(): void {
    while (this.pos < this.s.length && WHITESPACE.has(this.s[this.pos])) this.pos++;
  }

  /** The top level: `{ key: value, … }` and nothing but whitespace around it. */
  parse(): Map<string, PyLit> {
    this.ws();
    if (this.s[this.pos] !== "{") this.unexpected("'{' (a header is a dict literal)");
    this.pos++;
    const out = new Map<string, PyLit>();
    for (;;) {
      this.ws();
      if (this.s[this.pos] === "}") break;
      const keyAt = this.pos;
      const key = this.value(1);
      if (key.t !== "str") this.fail(`dict key is ${describe(key)}; header keys are strings`, keyAt);
      if (out.has(key.v)) {
        this.fail(`duplicate key ${quoted(key.v, 40)} (numpy would silently take the last one)`, keyAt);
      }
      this.ws();
      if (this.s[this.pos] !== ":") this.unexpected("':'");
      this.pos++;
      out.set(key.v, this.value(1));
      this.ws();
      if (this.s[this.pos] === ",") {
        this.pos++;
        continue;
      }
      if (this.s[this.pos] !== "}") this.unexpected("',' or '}'");
      break;
    }
    this.pos++;
    this.ws();
    if (this.pos < this.s.length) this.unexpected("nothing after the dict but spaces and a newline");
    return out;
  }

  private value(depth: number): PyLit {
    if (depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} levels deep`);
    this.ws();
    const c = this.s[this.pos];
    if (c === "'" || c === '"') return { t: "str", v: this.string() };
    if ((c === "u" || c === "U") && (this.s[this.pos + 1] === "'" || this.s[this.pos + 1] === '"')) {
      this.pos++; // Python 2's unicode literal prefix: the same string in Python 3
      return { t: "str", v: this.string() };
    }
    if (c === "(" || c === "[") return this.sequence(depth);
    if (isDigit(c) || (c === "-" && isDigit(this.s[this.pos + 1]))) return { t: "int", v: this.integer() };
    if (c !== undefined && /[A-Za-z_]/.test(c)) {
      const start = this.pos;
      while (isNameChar(this.s[this.pos])) this.pos++;
      const word = this.s.slice(start, this.pos);
      if (word === "True" || word === "False") return { t: "bool", v: word === "True" };
      this.fail(`unexpected name ${quoted(word, 40)} (the only names allowed are True and False)`, start);
    }
    this.unexpected("a string, an integer, True, False, a tuple or a list");
  }

  private sequence(depth: number): PyLit {
    const open = this.s[this.pos];
    const close = open === "(" ? ")" : "]";
    this.pos++;
    const items: PyLit[] = [];
    let comma = false;
    for (;;) {
      this.ws();
      if (this.s[this.pos] === close) break;
      items.push(this.value(depth + 1));
      this.ws();
      if (this.s[this.pos] === ",") {
        this.pos++;
        comma = true;
        continue;
      }
      if (this.s[this.pos] !== close) this.unexpected(`',' or '${close}'`);
      break;
    }
    this.pos++;
    if (open === "[") return { t: "list", v: items };
    // `(x)` is x in Python: only a comma (or nothing at all) makes a tuple.
    if (items.length === 1 && !comma) return items[0];
    return { t: "tuple", v: items };
  }

  private integer(): bigint {
    const start = this.pos;
    if (this.s[this.pos] === "-") this.pos++;
    const digitsAt = this.pos;
    while (isDigit(this.s[this.pos])) this.pos++;
    const digits = this.s.slice(digitsAt, this.pos);
    if (digits.length > 1 && digits[0] === "0" && /[1-9]/.test(digits)) {
      this.fail("unexpected leading zero in an integer (Python 3 has no such literal)", digitsAt);
    }
    if (digits.length > 40) this.fail(`unexpected ${digits.length}-digit integer`, digitsAt);
    if (this.s[this.pos] === "L" && this.allowLongSuffix && !isNameChar(this.s[this.pos + 1])) this.pos++;
    const next = this.s[this.pos];
    if (isNameChar(next) || next === ".") {
      this.fail(
        next === "L"
          ? "unexpected 'L' suffix (Python 2 long integers appear only in .npy versions 1.0 and 2.0)"
          : `unexpected ${JSON.stringify(next)} after an integer (only plain decimal integers are allowed)`,
      );
    }
    return BigInt(this.s.slice(start, this.pos).replace(/L$/, ""));
  }

  private string(): string {
    const quote = this.s[this.pos];
    const start = this.pos;
    this.pos++;
    let out = "";
    for (;;) {
      const c = this.s[this.pos];
      if (c === undefined || c === "\n" || c === "\r") this.fail("unterminated string", start);
      this.pos++;
      if (c === quote) return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = this.s[this.pos];
      if (e === undefined) this.fail("unterminated string", start);
      this.pos++;
      const simple = SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
      } else if (e === "\n") {
        // a backslash-newline inside a string is nothing
      } else if (e >= "0" && e <= "7") {
        let oct = e;
        while (oct.length < 3 && this.s[this.pos] >= "0" && this.s[this.pos] <= "7") oct += this.s[this.pos++];
        out += String.fromCharCode(Number.parseInt(oct, 8));
      } else if (e === "x" || e === "u" || e === "U") {
        const n = e === "x" ? 2 : e === "u" ? 4 : 8;
        const hex = this.s.slice(this.pos, this.pos + n);
        if (!new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(hex)) this.fail(`truncated \\${e} escape`, this.pos - 2);
        const code = Number.parseInt(hex, 16);
        if (code > 0x10ffff) this.fail(`\\U escape beyond U+10FFFF`, this.pos - 2);
        out += String.fromCodePoint(code);
        this.pos += n;
      } else if (e === "N") {
        this.fail("unexpected \\N{…} escape (named characters are not supported)", this.pos - 2);
      } else {
        out += `\\${e}`; // Python keeps unknown escapes as they are
      }
    }
  }
}

// ---------------------------------------------------------------------------
// descr and shape

const OBJECT_DESCR = /^[<>|=]?(?:O\d*|object_?\d*)$/;
const OBJECT_MESSAGE = "object arrays hold pickled Python objects and are refused (loading them would run pickle code)";

/** Does a descr (string, structured list or subarray tuple) contain an object dtype anywhere a dtype can be? */
function containsObject(d: PyLit, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  if (d.t === "str") return OBJECT_DESCR.test(d.v);
  if (d.t === "tuple" && d.v.length === 2) return containsObject(d.v[0], depth + 1); // (base, shape)
  if (d.t === "list") {
    // [(name, descr), (name, descr, shape), …]
    return d.v.some((f) => f.t === "tuple" && f.v.length >= 2 && containsObject(f.v[1], depth + 1));
  }
  return false;
}

/** numpy's names for the element types nextscale does not read, by type code. */
function unsupportedName(code: string, size: string, unit: string): string | undefined {
  const n = Number(size);
  switch (code) {
    case "u":
      return { 2: "uint16", 4: "uint32", 8: "uint64" }[n];
    case "i":
    case "f":
      if (code === "f" && (n === 10 || n === 12 || n === 16)) return `float${n * 8} (long double)`;
      return undefined;
    case "c":
      return { 8: "complex64", 16: "complex128", 20: "complex160", 24: "complex192", 32: "complex256" }[n];
    case "S":
    case "a":
      return size === "" || n >= 0 ? "bytes strings" : undefined;
    case "U":
      return "unicode strings";
    case "V":
      return "raw bytes (void)";
    case "M":
      return n === 8 ? `datetime64${unit}` : undefined;
    case "m":
      return n === 8 ? `timedelta64${unit}` : undefined;
  }
  return undefined;
}

function dtypeOf(descr: PyLit, name: string): { dtype: DType; bigEndian: boolean } {
  if (containsObject(descr)) {
    const what = descr.t === "str" ? `dtype ${quoted(descr.v)}` : descr.t === "list" ? "a structured dtype with an object field" : "an object subarray dtype";
    throw new CheckpointFormatError(`${name}: .npy array has ${what}: ${OBJECT_MESSAGE}`);
  }
  if (descr.t === "list") {
    const names = descr.v.map((f) => (f.t === "tuple" && f.v[0]?.t === "str" ? f.v[0].v : "?"));
    throw new CheckpointFormatError(
      `${name}: .npy array has a structured dtype (a record array with fields ${listShown(names)}), which is not supported; save each field as its own array`,
    );
  }
  if (descr.t === "tuple") {
    throw new CheckpointFormatError(`${name}: .npy array has a subarray dtype, which is not supported`);
  }
  if (descr.t !== "str") {
    throw new CheckpointFormatError(`${name}: .npy header's descr is ${describe(descr)}, not a dtype descriptor`);
  }
  const s = descr.v;
  const m = /^([<>|=]?)([A-Za-z])([1-9]\d*|)(\[[A-Za-z0-9]+\])?$/.exec(s);
  const dtype = m && !m[4] ? DESCR.get(m[2] + m[3]) : undefined;
  if (m && dtype) {
    // '>' is big-endian; '<' little; '|', '=' and none are native, which numpy reads as little-endian on every
    // machine this runs on.
    return { dtype, bigEndian: m[1] === ">" && DTYPE_SIZE[dtype] > 1 };
  }
  const unsupported = m ? unsupportedName(m[2], m[3], m[4] ?? "") : undefined;
  if (unsupported) {
    throw new CheckpointFormatError(`${name}: unsupported .npy dtype ${quoted(s)} (${unsupported}); the dtypes read are ${READABLE}`);
  }
  throw new CheckpointFormatError(
    `${name}: .npy descr ${quoted(s)} is not a dtype string in the form numpy writes (byte order, type code and size, such as '<f4' or '|u1')`,
  );
}

function shapeOf(v: PyLit, itemSize: number, name: string): number[] {
  if (v.t !== "tuple") {
    const hint = v.t === "int" ? " (a 1-d shape is written (n,))" : "";
    throw new CheckpointFormatError(`${name}: .npy header's shape is ${describe(v)}, not a tuple of integers${hint}`);
  }
  if (v.v.length > MAX_RANK) {
    throw new CheckpointFormatError(`${name}: .npy shape has ${v.v.length} dimensions (at most ${MAX_RANK})`);
  }
  const dims: number[] = [];
  let nonZero = 1n;
  for (const d of v.v) {
    if (d.t !== "int") throw new CheckpointFormatError(`${name}: .npy shape holds ${describe(d)}, not an integer`);
    if (d.v < 0n) throw new CheckpointFormatError(`${name}: .npy shape has a negative dimension ${d.v}`);
    if (d.v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new CheckpointFormatError(`${name}: .npy shape dimension ${quoted(String(d.v), 40).slice(1, -1)} is too large`);
    }
    if (d.v > 0n) nonZero *= d.v;
    dims.push(Number(d.v));
  }
  // Zero-size arrays still keep every dimension within range, so that no product of dimensions overflows later.
  if (nonZero * BigInt(itemSize) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CheckpointFormatError(`${name}: .npy shape (${dims.join(", ")}) is too large: ${nonZero} elements of ${itemSize} bytes`);
  }
  return dims;
}

function listShown(names: string[], max = 5): string {
  const head = names.slice(0, max).map((n) => quoted(n, 60));
  return names.length > max ? `${head.join(", ")} and ${names.length - max} more` : head.join(", ");
}

// ---------------------------------------------------------------------------
// Reading

function decodeNpyData(h: NpyHeader, data: Uint8Array, name: string): HostTensor {
  checkNpyDataSize(h, data.byteLength, name);
  const size = DTYPE_SIZE[h.dtype];
  let bytes = data;
  if (h.bigEndian || bytes.byteOffset % size) bytes = bytes.slice();
  if (h.bigEndian) byteSwap(bytes, size);
  let arr = viewAs(h.dtype, bytes);
  if (h.fortran && h.shape.length > 1) {
    // Fortran order is the strided view with strides 1, d0, d0·d1, …
    const stride: number[] = [];
    let s = 1;
    for (const d of h.shape) {
      stride.push(s);
      s *= d;
    }
    arr = gatherStrided(arr, h.shape, stride);
  }
  return { dtype: h.dtype, shape: [...h.shape], data: arr };
}

/** Parse a whole `.npy` file (header and exactly the data it describes). */
export function readNpy(bytes: Uint8Array, name = "npy"): HostTensor {
  const h = parseNpyHeader(bytes, name);
  return decodeNpyData(h, bytes.subarray(h.dataOffset), name);
}

/** Serialise one array as `.npy` (version 1.0, little-endian, C order). */
export function writeNpy(t: HostTensor): Uint8Array {
  if (t.dtype === "bfloat16") throw new Error(".npy has no bfloat16 type");
  const e = DTYPE_SIZE[t.dtype] === 1 ? "|" : "<";
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '${e}${TO_DESCR.get(t.dtype)}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const hb = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + hb.length + t.data.byteLength);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, hb.length, true);
  out.set(hb, 10);
  out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), 10 + hb.length);
  return out;
}

/** Serialise arrays as an (uncompressed) `.npz`, readable by `numpy.load`. */
export function writeNpz(arrays: Iterable<[string, HostTensor]>): Uint8Array {
  return writeZipStored([...arrays].map(([k, t]) => [`${k}.npy`, writeNpy(t)] as [string, Uint8Array]));
}

/** Read and parse the `.npy` header of an `.npz` member, however long the header is (up to `NPY_MAX_HEADER`). */
export async function readNpzHeader(zip: ZipReader, entry: ZipEntry, name: string): Promise<NpyHeader> {
  if (entry.method === 0 && entry.compressedSize !== entry.size) {
    throw new CheckpointFormatError(`${name}: stored zip entry with different sizes (${entry.compressedSize} and ${entry.size} bytes)`);
  }
  // Most headers are 128 bytes: one read of the first 4 KiB usually holds the whole header. (ZipReader
  // inflates a deflated entry only as far as a range at its start needs.)
  let head = await zip.readRange(entry, 0, Math.min(entry.size, 4096));
  const pre = parseNpyPreamble(head, name);
  if (pre.dataOffset > entry.size) {
    throw new CheckpointFormatError(
      `${name}: .npy header is truncated (its length field says ${pre.headerLength} bytes, the array holds ${Math.max(0, entry.size - pre.headerStart)} after the preamble)`,
    );
  }
  if (pre.dataOffset > head.length) head = await zip.readRange(entry, 0, pre.dataOffset);
  return parseNpyHeader(head, name);
}

export async function openNpz(source: ByteSource): Promise<TensorStore> {
  const zip = await ZipReader.open(source);
  const entries = new Map<string, { entry: ZipEntry; header: NpyHeader; label: string }>();
  for (const [k, entry] of zip.entries) {
    if (k.endsWith("/") && entry.size === 0) continue; // a folder
    const label = `${source.name}: ${quoted(k)}`;
    if (!k.endsWith(".npy")) {
      throw new CheckpointFormatError(`${label} is not an .npy array; an .npz holds only <key>.npy arrays`);
    }
    const header = await readNpzHeader(zip, entry, label);
    checkNpyDataSize(header, entry.size - header.dataOffset, label);
    entries.set(k.slice(0, -4), { entry, header, label });
  }
  if (entries.size === 0) throw new CheckpointFormatError(`${source.name}: zip archive without .npy arrays: not an .npz file`);
  const store: TensorStore = {
    format: "npz",
    name: source.name,
    metadata: Object.create(null),
    keys: () => [...entries.keys()],
    has: (n) => entries.has(n),
    info(n): TensorInfo {
      const e = entries.get(n);
      if (!e) throw missingKey(store, n);
      return { name: n, dtype: e.header.dtype, shape: [...e.header.shape] };
    },
    async read(n) {
      const e = entries.get(n);
      if (!e) throw missingKey(store, n);
      const { entry, header } = e;
      return decodeNpyData(header, await zip.readRange(entry, header.dataOffset, header.nbytes), e.label);
    },
    close: () => source.close(),
  };
  return store;
}

export async function openNpy(source: ByteSource): Promise<TensorStore> {
  const name = source.name;
  const pre = parseNpyPreamble(await source.read(0, Math.min(source.size, 12)), name);
  if (pre.dataOffset > source.size) {
    throw new CheckpointFormatError(
      `${name}: .npy header is truncated (its length field says ${pre.headerLength} bytes, the file holds ${Math.max(0, source.size - pre.headerStart)} after the preamble)`,
    );
  }
  const h = parseNpyHeader(await source.read(0, pre.dataOffset), name);
  checkNpyDataSize(h, source.size - h.dataOffset, name);
  const key = "arr_0";
  const store: TensorStore = {
    format: "npy",
    name,
    metadata: Object.create(null),
    keys: () => [key],
    has: (n) => n === key,
    info(n) {
      if (n !== key) throw missingKey(store, n);
      return { name: key, dtype: h.dtype, shape: [...h.shape] };
    },
    async read(n) {
      if (n !== key) throw missingKey(store, n);
      return decodeNpyData(h, await source.read(h.dataOffset, h.nbytes), name);
    },
    close: () => source.close(),
  };
  return store;
}
