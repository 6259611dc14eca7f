/**
 * safetensors (https://github.com/huggingface/safetensors format spec):
 * u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`,
 * then the data. Reading is lazy; writing produces files that
 * `safetensors.torch.load_file` accepts (contiguous offsets, 8-byte aligned header).
 */
import { DTYPE_SIZE, type DType, type HostTensor, numel, viewAs } from "./dtype.js";
import { type ByteSource, CheckpointFormatError, quoted } from "./source.js";
import { missingKey, type TensorInfo, type TensorStore } from "./store.js";

const DTYPES: [string, DType][] = [
  ["F64", "float64"],
  ["F32", "float32"],
  ["F16", "float16"],
  ["BF16", "bfloat16"],
  ["I64", "int64"],
  ["I32", "int32"],
  ["I16", "int16"],
  ["I8", "int8"],
  ["U8", "uint8"],
  ["BOOL", "bool"],
];
const TO_DTYPE = new Map<string, DType>(DTYPES);
const FROM_DTYPE = new Map<DType, string>(DTYPES.map(([k, v]) => [v, k]));

/** Largest header we accept (the format's limit, as the reference implementation enforces it: 100 MB). */
const MAX_HEADER = 100_000_000;

interface Entry extends TensorInfo {
  begin: number;
  end: number;
}

/** A value from the file for a message: strings quoted, anything else as JSON, at most 200 characters. */
function render(v: unknown): string {
  if (typeof v === "string") return quoted(v);
  if (v === null || typeof v !== "object") return String(v).slice(0, 200);
  // a container from the file: shown as JSON when small and shallow (it may be nested 1e5 deep)
  let nodes = 0;
  const small = (x: unknown, depth: number): boolean => {
    if (x === null || typeof x !== "object") return true;
    if (depth > 8 || ++nodes > 64) return false;
    return Object.values(x).every((y) => small(y, depth + 1));
  };
  if (!small(v, 0)) return Array.isArray(v) ? `an array of ${v.length} items` : `an object of ${Object.keys(v).length} keys`;
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/**
 * Open a safetensors file, validating its header as the reference
 * implementation does, and more: the header length (at most 100 MB, within
 * the file), UTF-8 JSON starting with `{`, no key twice in any object, a
 * `__metadata__` map of strings to strings, for every tensor a known dtype, a
 * shape of safe non-negative integers whose product (and byte size) does not
 * overflow, and data offsets that match the shape; the tensors, sorted by
 * offset, must tile the data section exactly (start at 0, no gap, no overlap,
 * end at the end of the file). Names become keys only in a `Map` (and the
 * metadata is a null-prototype object), so a tensor called `__proto__` loads
 * like any other. The format has no checksum: corrupted tensor bytes cannot
 * be detected.
 */
export async function openSafetensors(source: ByteSource): Promise<TensorStore> {
  const name = source.name;
  const fail = (msg: string) => new CheckpointFormatError(`${name}: ${msg}`);
  if (!Number.isSafeInteger(source.size) || source.size < 8) throw fail(`too small to be a safetensors file (${source.size} bytes)`);
  const lenBytes = await source.read(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) {
    throw fail(
      `safetensors header length ${n} exceeds the ${MAX_HEADER} bytes (100 MB) the format allows (corrupt, or not a safetensors file${
        n > BigInt(source.size - 8) ? `; it is also larger than the file's ${source.size} bytes` : ""
      })`,
    );
  }
  if (n > BigInt(source.size - 8)) {
    throw fail(`safetensors header length ${n} exceeds the ${source.size - 8} bytes that follow it (truncated file)`);
  }
  const headerLen = Number(n);
  const headerBytes = await source.read(8, headerLen);
  if (headerBytes[0] !== 0x7b) throw fail("safetensors header does not start with '{' (corrupt, or not a safetensors file)");
  let text: string;
  let header: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw fail("safetensors header is not valid UTF-8 (corrupt)");
  }
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`safetensors header is not valid JSON (${render((e as Error).message)})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw fail("safetensors header is not a JSON object");
  }
  // JSON.parse keeps the last of two equal keys; the file would mean two things.
  const dup = duplicateKey(text);
  if (dup !== undefined) throw fail(`safetensors header has the key ${quoted(dup)} twice (corrupt or ambiguous)`);
  const dataStart = 8 + headerLen;
  const dataLen = source.size - dataStart;
  const entries = new Map<string, Entry>();
  const metadata: Record<string, unknown> = Object.create(null);
  for (const [key, v] of Object.entries(header)) {
    const what = `tensor ${quoted(key)}`;
    if (key === "__metadata__") {
      if (v === null) continue; // serde's Option: null is no metadata
      if (typeof v !== "object" || Array.isArray(v)) throw fail(`safetensors __metadata__ is ${render(v)}, not an object of strings`);
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== "string") throw fail(`safetensors __metadata__ value for ${quoted(mk)} is ${render(mv)}, not a string (the format allows only strings)`);
        metadata[mk] = mv;
      }
      continue;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw fail(`${what}: its entry is ${render(v)}, not an object with dtype, shape and data_offsets`);
    const info = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof info.dtype === "string" ? TO_DTYPE.get(info.dtype) : undefined;
    if (!dtype) throw fail(`${what} has unsupported dtype ${render(info.dtype)}`);
    const shape = info.shape;
    const offs = info.data_offsets;
    const isDim = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
    if (!Array.isArray(shape) || !shape.every(isDim)) {
      throw fail(`${what} has a malformed shape ${render(shape)} (expected a list of non-negative integers up to 2^53 - 1)`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isDim) || offs[1] < offs[0]) {
      throw fail(`${what} has malformed data_offsets ${render(offs)} (expected [begin, end], integers, begin <= end)`);
    }
    let count = 1;
    for (const d of shape) {
      if (d !== 0 && count > Number.MAX_SAFE_INTEGER / d) {
        throw fail(`${what}: shape ${renderShape(shape)} has more elements than 2^53 (overflow)`);
      }
      count *= d;
    }
    if (count > Number.MAX_SAFE_INTEGER / DTYPE_SIZE[dtype]) throw fail(`${what}: shape ${renderShape(shape)} of ${dtype} has more bytes than 2^53 (overflow)`);
    const [begin, end] = offs as number[];
    if (end > dataLen) {
      throw fail(`${what} data_offsets [${begin}, ${end}] are out of range (data section has ${dataLen} bytes; truncated file?)`);
    }
    if (end - begin !== count * DTYPE_SIZE[dtype]) {
      throw fail(`${what} byte range [${begin}, ${end}] (${end - begin} bytes) does not match shape ${renderShape(shape)} of ${dtype} (${count * DTYPE_SIZE[dtype]} bytes)`);
    }
    entries.set(key, { name: key, dtype, shape: shape as number[], begin, end });
  }
  // Packed: sorted by offset, the tensors tile the data section exactly.
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < at) {
      throw fail(`tensors ${quoted(prev!.name)} [${prev!.begin}, ${prev!.end}] and ${quoted(e.name)} [${e.begin}, ${e.end}] overlap in the data section (corrupt)`);
    }
    if (e.begin > at) {
      throw fail(
        `${e.begin - at} bytes of the data section before tensor ${quoted(e.name)} [${e.begin}, ${e.end}] belong to no tensor${prev ? ` (after ${quoted(prev.name)}, which ends at ${prev.end})` : ""}: the format requires packed data (corrupt)`,
      );
    }
    at = e.end;
    prev = e;
  }
  if (at !== dataLen) {
    throw fail(`the data section has ${dataLen - at} bytes after the last tensor, which ends at ${at}; the format requires the tensors to end at the end of the file (corrupt, or bytes appended)`);
  }
  return new SafetensorsStore(source, entries, metadata, dataStart);
}

/** At most eight dimensions of a shape from the file, for messages. */
function renderShape(shape: readonly number[]): string {
  return shape.length <= 8 ? `[${shape.join(", ")}]` : `[${shape.slice(0, 8).join(", ")}, … (${shape.length} dimensions)]`;
}

/**
 * The first key that appears twice in one object of a JSON text (already
 * known to be valid JSON), or undefined. One pass over the characters.
 */
function duplicateKey(text: string): string | undefined {
  // Per open container: the keys seen (null for an array), and whether the next string is a key.
  const keys: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      if (expectKey) {
        const raw = text.slice(start, i + 1);
        const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        const seen = keys[keys.length - 1]!;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      keys.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      keys.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      keys.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = keys[keys.length - 1] !== null;
    }
  }
  return undefined;
}

class SafetensorsStore implements TensorStore {
  readonly format = "safetensors" as const;
  readonly name: string;
  constructor(
    private readonly source: ByteSource,
    private readonly entries: Map<string, Entry>,
    readonly metadata: Record<string, unknown>,
    private readonly dataStart: number,
  ) {
    this.name = source.name;
  }
  keys(): string[] {
    return [...this.entries.keys()];
  }
  has(name: string): boolean {
    return this.entries.has(name);
  }
  info(name: string): TensorInfo {
    const e = this.entries.get(name);
    if (!e) throw missingKey(this, name);
    return { name, dtype: e.dtype, shape: [...e.shape] };
  }
  async read(name: string): Promise<HostTensor> {
    const e = this.entries.get(name);
    if (!e) throw missingKey(this, name);
    const bytes = await this.source.read(this.dataStart + e.begin, e.end - e.begin);
    return { dtype: e.dtype, shape: [...e.shape], data: viewAs(e.dtype, bytes) };
  }
  async close(): Promise<void> {
    await this.source.close();
  }
}

/**
 * Serialise tensors to safetensors bytes. Keys keep the given order; the
 * header is padded with spaces to a multiple of 8 bytes so data is aligned.
 * Any name is written as given (`__proto__` included); a name given twice
 * and non-string metadata values are errors.
 */
export function writeSafetensors(
  tensors: Iterable<[string, HostTensor]> | Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = [...tensors];
  // Null prototype: a tensor named "__proto__" is an ordinary key, not the object's prototype.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length) {
    const meta: Record<string, string> = Object.create(null);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`safetensors metadata ${quoted(k)}: the value must be a string, not ${typeof v}`);
      meta[k] = v;
    }
    header.__metadata__ = meta;
  }
  let off = 0;
  for (const [k, t] of list) {
    if (k === "__metadata__") throw new Error('"__metadata__" is reserved in safetensors');
    if (Object.hasOwn(header, k)) throw new Error(`tensor ${quoted(k)} is given twice`);
    const dtype = FROM_DTYPE.get(t.dtype);
    if (!dtype) throw new Error(`tensor ${quoted(k)}: safetensors has no dtype for ${t.dtype}`);
    const len = numel(t.shape) * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== len) throw new Error(`tensor ${quoted(k)}: data has ${t.data.byteLength} bytes, shape [${t.shape}] of ${t.dtype} needs ${len}`);
    header[k] = { dtype, shape: t.shape, data_offsets: [off, off + len] };
    off += len;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hbytes = enc.encode(json);
  const pad = (8 - (hbytes.byteLength % 8)) % 8;
  if (pad) {
    json += " ".repeat(pad);
    hbytes = enc.encode(json);
  }
  if (hbytes.byteLength > MAX_HEADER) throw new Error(`safetensors header of ${hbytes.byteLength} bytes exceeds the format's ${MAX_HEADER}`);
  const out = new Uint8Array(8 + hbytes.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.byteLength), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.byteLength;
  for (const [, t] of list) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}
