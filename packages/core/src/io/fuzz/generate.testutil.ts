/**
 * A seeded generator of hostile checkpoint files for the loader fuzz test
 * (`../fuzz.test.ts`). Every file is a function of the seed (a small
 * counter-based PRNG, never `Math.random`), written by hand-rolled writers
 * that can lie where the real ones never would: a pickle writer (raw
 * opcodes), a zip writer (stored and deflated entries, overridden sizes,
 * CRCs, local headers, ZIP64 fields, overlapping and duplicate entries), a
 * raw deflate writer for decompression bombs (a dynamic-Huffman block of
 * 258-byte matches: 1032 bytes out per byte in, so a 3 GiB bomb is a 3 MiB
 * file made in milliseconds), and raw safetensors and `.npy` writers.
 *
 * Each case says what a correct loader must do with it: `error` (end in a
 * `CheckpointFormatError`), `load` (load exactly the listed tensors), or
 * `clean` (either; a load must give the listed tensors, unless the format
 * cannot detect the change: `detectable: false`). Files are built lazily
 * (`make()`), so the whole corpus is never in memory at once.
 */
import { DTYPE_SIZE, type DType } from "../dtype.js";
import { writeNpy, writeNpz } from "../npy.js";
import { writeSafetensors } from "../safetensors.js";
import { crc32 } from "../zip-write.js";

export const FUZZ_CLASSES = [
  "pickle-amplification",
  "big-integers",
  "decompression-bombs",
  "integrity",
  "views-sizes",
  "keys",
  "npy-npz",
  "code-execution",
  "random",
] as const;
export type FuzzClass = (typeof FUZZ_CLASSES)[number];

/** A tensor as a load must return it: dtype, shape and a digest of its row-major bytes. */
export interface ExpectedTensor {
  dtype: DType;
  shape: number[];
  digest: string;
}
export type ExpectedTensors = Record<string, ExpectedTensor>;

export interface FuzzCase {
  cls: FuzzClass;
  /** Unique and stable for a seed: `<class>/<variant>` (random cases: `random/<base>:<op>#<n>`). */
  id: string;
  /** File name extension (the loaders sniff content, never the name). */
  ext: string;
  /** The file's bytes, built on demand. */
  make(): Promise<Uint8Array>;
  /** error: must end in a CheckpointFormatError; load: must load exactly `tensors`; clean: either. */
  expect: "error" | "load" | "clean";
  /** The tensors a load must give; undefined with `base`: those of the base file (the runner loads it). */
  tensors?: ExpectedTensors;
  /** Random cases: the unmodified file this one was derived from. */
  base?: string;
  /** Whether the format can detect a changed byte (zip entries: CRC-32). False: a load with other values is "undetectable by the format". */
  detectable: boolean;
  /** Code execution: the file whose existence would prove that the payload ran. */
  sentinel?: string;
  note: string;
}

/** Digest of a tensor: dtype, shape, byte length and CRC-32 of the row-major little-endian bytes. */
export function tensorDigest(dtype: DType, shape: readonly number[], bytes: Uint8Array): string {
  return `${dtype}[${shape.join(",")}]${bytes.byteLength}:${crc32(bytes).toString(16).padStart(8, "0")}`;
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** mulberry32 on a seed mixed with a label: one independent stream per class and base. */
export class Rng {
  private s: number;
  constructor(seed: number, label = "") {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x85ebca6b) >>> 0;
    this.s = (h ^ (h >>> 15)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length)];
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes

const enc = new TextEncoder();
const utf8 = (s: string) => enc.encode(s);
export const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

export const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Raw deflate (RFC 1951) by the platform's CompressionStream. */
export async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** CRC-32 of `crc`'s data followed by `n` zero bytes (zlib's crc32_combine, GF(2) matrices), in O(log n). */
export function crc32ThenZeros(crc: number, n: number): number {
  const times = (mat: Uint32Array, vec: number) => {
    let sum = 0;
    for (let i = 0; vec; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i];
    return sum >>> 0;
  };
  const square = (sq: Uint32Array, mat: Uint32Array) => {
    for (let i = 0; i < 32; i++) sq[i] = times(mat, mat[i]);
  };
  if (n <= 0) return crc >>> 0;
  // The CRC register without the final xor, advanced over zero bytes, then xored back.
  let reg = (crc ^ 0xffffffff) >>> 0;
  const odd = new Uint32Array(32);
  const even = new Uint32Array(32);
  odd[0] = 0xedb88320;
  for (let i = 1, row = 1; i < 32; i++, row <<= 1) odd[i] = row >>> 0;
  square(even, odd); // two zero bits
  square(odd, even); // four zero bits
  // each step squares: 8, 16, 32 … zero bits
  let len = n;
  do {
    square(even, odd);
    if (len & 1) reg = times(even, reg);
    len = Math.floor(len / 2);
    if (!len) break;
    square(odd, even);
    if (len & 1) reg = times(odd, reg);
    len = Math.floor(len / 2);
  } while (len);
  return (reg ^ 0xffffffff) >>> 0;
}

/**
 * A raw deflate stream that inflates to `prefix` followed by exactly
 * `zeros` (≥ 1) zero bytes: `prefix` and (zeros - 1) mod 258 zeros in
 * stored blocks, then one dynamic-Huffman block holding a literal 0 and
 * k copies of (length 258, distance 1), two bits each. Built in
 * O(output bits / 8).
 */
export function deflateBomb(head: Uint8Array, zeros: number): { stream: Uint8Array; inflated: number } {
  if (!(zeros >= 1)) throw new Error("deflateBomb: at least one zero byte");
  const k = Math.floor((zeros - 1) / 258);
  const prefix = concat([head, new Uint8Array(zeros - 1 - 258 * k)]);
  const storedBlocks = Math.ceil(prefix.length / 0xffff);
  const bits = 3 + 5 + 5 + 4 + 18 * 3 + 64 + 2 + 2 * k + 2 + 8;
  const out = new Uint8Array(storedBlocks * 5 + prefix.length + Math.ceil(bits / 8) + 1);
  let o = 0;
  for (let i = 0; i < storedBlocks; i++) {
    const part = prefix.subarray(i * 0xffff, (i + 1) * 0xffff);
    out[o++] = 0; // BFINAL 0, BTYPE 00, padding to the byte
    out[o++] = part.length & 255;
    out[o++] = part.length >> 8;
    out[o++] = ~part.length & 255;
    out[o++] = (~part.length >> 8) & 255;
    out.set(part, o);
    o += part.length;
  }
  let bit = o * 8;
  const put = (v: number, n: number) => {
    // n bits of v, least significant first (deflate's header fields and extra bits)
    for (let i = 0; i < n; i++, bit++) if ((v >>> i) & 1) out[bit >> 3] |= 1 << (bit & 7);
  };
  const code = (c: string) => {
    // a Huffman code, most significant bit first
    for (const ch of c) {
      if (ch === "1") out[bit >> 3] |= 1 << (bit & 7);
      bit++;
    }
  };
  put(1, 1); // BFINAL
  put(2, 2); // BTYPE 10: dynamic Huffman
  put(286 - 257, 5); // HLIT: literal/length codes 0..285
  put(2 - 1, 5); // HDIST: distance codes 0..1
  put(18 - 4, 4); // HCLEN: 18 code-length codes
  // code-length code lengths, in the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1: 18 -> 1 bit, 2 and 1 -> 2 bits
  for (const len of [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2]) put(len, 3);
  // canonical code-length codes: 18 = "0", 1 = "10", 2 = "11"
  code("11"); // literal 0: length 2
  code("0");
  put(138 - 11, 7); // literals 1..138: 0
  code("0");
  put(117 - 11, 7); // literals 139..255: 0
  code("11"); // 256 (end of block): length 2
  code("0");
  put(28 - 11, 7); // 257..284: 0
  code("10"); // 285 (length 258): length 1
  code("10"); // distance 0 (distance 1): length 1
  code("10"); // distance 1: length 1
  // literal/length codes: 285 = "0", 0 = "10", 256 = "11"; distance 0 = "0"
  code("10"); // the literal 0
  bit += 2 * k; // k × (285 "0", distance 0 "0"): zero bits, already zero
  code("11"); // end of block
  return { stream: out.subarray(0, Math.ceil(bit / 8)), inflated: prefix.length + 1 + 258 * k };
}

// ---------------------------------------------------------------------------------------------
// Zip

export interface ZipMember {
  name: string;
  /** Uncompressed content: the CRC-32 and the size come from it unless overridden. */
  data: Uint8Array;
  /** Raw deflate stream of the data (method 8); absent: stored. */
  deflated?: Uint8Array;
  /** Declared uncompressed size (central directory and local header). */
  size?: number;
  /** Declared CRC-32. */
  crc?: number;
  /** Where the local header disagrees with the central directory. */
  local?: { name?: string; size?: number; compressedSize?: number; crc?: number; method?: number };
  /** Flag bit 3: zero CRC and sizes in the local header, a data descriptor (with signature) after the data. */
  descriptor?: boolean;
  /** ZIP64: "full" (0xffffffff sizes and offset, a complete extra field), "empty-extra" (0xffffffff sizes, an empty 0x0001 field), "short-extra" (8 of the 16 bytes needed). */
  zip64?: "full" | "empty-extra" | "short-extra" | "empty-extra-unneeded";
  /** No local record of its own: the central entry points at the local header of the member named here. */
  at?: string;
  /** The declared data runs on over the next member's local record (sizes and CRC cover it): overlapping entries. */
  spanNext?: boolean;
}

export interface ZipOptions {
  /** Override the end record's entry count. */
  count?: number;
  /** Write a ZIP64 end record and locator (and 0xffff / 0xffffffff in the classic end record). */
  zip64End?: boolean;
  /** Bytes between the last local record and the central directory. */
  gap?: Uint8Array;
}

/** A zip archive; every lie a hostile file can tell is an option. */
export function writeZip(members: readonly ZipMember[], opts: ZipOptions = {}): Uint8Array {
  interface Rec {
    m: ZipMember;
    nb: Uint8Array;
    offset: number;
    header: Uint8Array;
    payload: Uint8Array;
    trailer: Uint8Array;
    method: number;
    crc: number;
    csize: number;
    size: number;
  }
  const recs: Rec[] = [];
  const byName = new Map<string, Rec>();
  let offset = 0;
  for (const m of members) {
    const nb = utf8(m.name);
    const method = m.deflated ? 8 : 0;
    const payload = m.deflated ?? m.data;
    const crc = m.crc ?? crc32(m.data);
    const size = m.size ?? m.data.length;
    const rec: Rec = { m, nb, offset, header: new Uint8Array(0), payload, trailer: new Uint8Array(0), method, crc, csize: payload.length, size };
    recs.push(rec);
    if (m.at) continue;
    byName.set(m.name, rec);
    const lnb = m.local?.name !== undefined ? utf8(m.local.name) : nb;
    const z64 = m.zip64 === "full";
    const extra = z64 ? new Uint8Array(20) : new Uint8Array(0);
    const h = new Uint8Array(30 + lnb.length + extra.length);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, 0x04034b50, true);
    dv.setUint16(4, z64 ? 45 : 20, true);
    dv.setUint16(6, (m.descriptor ? 8 : 0) | 0x800, true);
    dv.setUint16(8, m.local?.method ?? method, true);
    dv.setUint16(10, 0x6000, true); // time
    dv.setUint16(12, 0x5a21, true); // date
    if (!m.descriptor) {
      dv.setUint32(14, m.local?.crc ?? crc, true);
      dv.setUint32(18, z64 ? 0xffffffff : (m.local?.compressedSize ?? payload.length), true);
      dv.setUint32(22, z64 ? 0xffffffff : (m.local?.size ?? size), true);
    }
    dv.setUint16(26, lnb.length, true);
    dv.setUint16(28, extra.length, true);
    h.set(lnb, 30);
    if (z64) {
      const ev = new DataView(h.buffer, 30 + lnb.length);
      ev.setUint16(0, 1, true);
      ev.setUint16(2, 16, true);
      ev.setBigUint64(4, BigInt(size), true);
      ev.setBigUint64(12, BigInt(payload.length), true);
    }
    rec.header = h;
    if (m.descriptor) {
      rec.trailer = new Uint8Array(16);
      const tv = new DataView(rec.trailer.buffer);
      tv.setUint32(0, 0x08074b50, true);
      tv.setUint32(4, crc, true);
      tv.setUint32(8, payload.length, true);
      tv.setUint32(12, size, true);
    }
    offset += h.length + payload.length + rec.trailer.length;
  }
  // lay out the local records, then let spanning members cover the next record
  const locals: Uint8Array[] = [];
  for (const r of recs) {
    if (r.m.at) continue;
    locals.push(r.header, r.payload, r.trailer);
  }
  const body = concat(locals);
  let pos = 0;
  for (const r of recs) {
    if (r.m.at) continue;
    r.offset = pos;
    pos += r.header.length + r.payload.length + r.trailer.length;
  }
  const own = recs.filter((r) => !r.m.at);
  for (let i = 0; i < own.length; i++) {
    const r = own[i];
    if (!r.m.spanNext) continue;
    const next = own[i + 1];
    const start = r.offset + r.header.length;
    const end = next.offset + next.header.length + next.payload.length + next.trailer.length;
    const covered = body.subarray(start, end);
    r.csize = covered.length;
    r.size = covered.length;
    r.crc = crc32(covered);
    const dv = new DataView(body.buffer, r.offset);
    dv.setUint32(14, r.crc, true);
    dv.setUint32(18, r.csize, true);
    dv.setUint32(22, r.size, true);
  }
  for (const r of recs) {
    if (!r.m.at) continue;
    const t = byName.get(r.m.at);
    if (!t) throw new Error(`writeZip: no member ${r.m.at}`);
    r.offset = t.offset;
    r.method = t.method;
    r.csize = t.csize;
    r.size = r.m.size ?? t.size;
    r.crc = r.m.crc ?? t.crc;
  }
  const central: Uint8Array[] = [];
  for (const r of recs) {
    const m = r.m;
    let extra = new Uint8Array(0);
    const big = m.zip64 === "full" || m.zip64 === "empty-extra" || m.zip64 === "short-extra";
    if (m.zip64 === "full") {
      extra = new Uint8Array(28);
      const ev = new DataView(extra.buffer);
      ev.setUint16(0, 1, true);
      ev.setUint16(2, 24, true);
      ev.setBigUint64(4, BigInt(r.size), true);
      ev.setBigUint64(12, BigInt(r.csize), true);
      ev.setBigUint64(20, BigInt(r.offset), true);
    } else if (m.zip64 === "empty-extra" || m.zip64 === "empty-extra-unneeded") {
      extra = new Uint8Array([1, 0, 0, 0]);
    } else if (m.zip64 === "short-extra") {
      extra = new Uint8Array(12);
      const ev = new DataView(extra.buffer);
      ev.setUint16(0, 1, true);
      ev.setUint16(2, 8, true);
      ev.setBigUint64(4, BigInt(r.size), true);
    }
    const c = new Uint8Array(46 + r.nb.length + extra.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, big ? 45 : 20, true);
    cv.setUint16(6, big ? 45 : 20, true);
    cv.setUint16(8, (m.descriptor ? 8 : 0) | 0x800, true);
    cv.setUint16(10, r.method, true);
    cv.setUint16(12, 0x6000, true);
    cv.setUint16(14, 0x5a21, true);
    cv.setUint32(16, r.crc, true);
    cv.setUint32(20, big ? 0xffffffff : r.csize, true);
    cv.setUint32(24, big ? 0xffffffff : r.size, true);
    cv.setUint16(28, r.nb.length, true);
    cv.setUint16(30, extra.length, true);
    cv.setUint32(42, m.zip64 === "full" ? 0xffffffff : r.offset, true);
    c.set(r.nb, 46);
    c.set(extra, 46 + r.nb.length);
    central.push(c);
  }
  const gap = opts.gap ?? new Uint8Array(0);
  const cd = concat(central);
  const cdOffset = body.length + gap.length;
  const count = opts.count ?? recs.length;
  const tail: Uint8Array[] = [];
  if (opts.zip64End) {
    const z = new Uint8Array(56 + 20);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setUint16(12, 45, true);
    zv.setUint16(14, 45, true);
    zv.setBigUint64(24, BigInt(count), true);
    zv.setBigUint64(32, BigInt(count), true);
    zv.setBigUint64(40, BigInt(cd.length), true);
    zv.setBigUint64(48, BigInt(cdOffset), true);
    zv.setUint32(56, 0x07064b50, true);
    zv.setBigUint64(64, BigInt(cdOffset + cd.length), true);
    zv.setUint32(72, 1, true);
    tail.push(z);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, opts.zip64End ? 0xffff : count, true);
  ev.setUint16(10, opts.zip64End ? 0xffff : count, true);
  ev.setUint32(12, opts.zip64End ? 0xffffffff : cd.length, true);
  ev.setUint32(16, opts.zip64End ? 0xffffffff : cdOffset, true);
  tail.push(eocd);
  return concat([body, gap, cd, ...tail]);
}

// ---------------------------------------------------------------------------------------------
// Pickles

/** Raw pickle opcodes (protocol 2 unless told), enough to write any hostile pickle by hand. */
export class Pickle {
  private buf = new Uint8Array(1 << 12);
  private n = 0;
  constructor(protocol = 2) {
    if (protocol >= 2) this.op(0x80, protocol);
  }
  op(...xs: number[]): this {
    this.ensure(xs.length);
    for (const x of xs) this.buf[this.n++] = x;
    return this;
  }
  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }
  private ensure(k: number) {
    if (this.n + k <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    grown.set(this.buf.subarray(0, this.n));
    this.buf = grown;
  }
  private u32(v: number) {
    return [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
  }
  /** BINUNICODE */
  str(s: string): this {
    const e = utf8(s);
    return this.op(0x58, ...this.u32(e.length)).raw(e);
  }
  /** SHORT_BINUNICODE */
  sstr(s: string): this {
    const e = utf8(s);
    return this.op(0x8c, e.length).raw(e);
  }
  /** BININT (signed 32-bit) */
  int(v: number): this {
    return this.op(0x4a, ...this.u32(v >>> 0));
  }
  /** LONG1 of a bigint, little-endian two's complement */
  long1(v: bigint): this {
    const out: number[] = [];
    let x = v;
    for (;;) {
      out.push(Number(x & 255n));
      x >>= 8n;
      if ((x === 0n && !(out[out.length - 1] & 0x80)) || (x === -1n && out[out.length - 1] & 0x80)) break;
    }
    return this.op(0x8a, out.length, ...out);
  }
  /** BINFLOAT (big-endian double) */
  float(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return this.op(0x47).raw(b);
  }
  global(mod: string, name: string): this {
    return this.op(0x63).raw(utf8(`${mod}\n${name}\n`));
  }
  stackGlobal(mod: string, name: string): this {
    return this.sstr(mod).sstr(name).op(0x93);
  }
  put(i: number): this {
    return this.op(0x72, ...this.u32(i)); // LONG_BINPUT
  }
  get(i: number): this {
    return this.op(0x6a, ...this.u32(i)); // LONG_BINGET
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  reduce(): this {
    return this.op(0x52);
  }
  pop(): this {
    return this.op(0x30);
  }
  /** A call `mod.name(*args)`: global, MARK, args, TUPLE, REDUCE. */
  call(mod: string, name: string, args: () => void): this {
    this.global(mod, name).mark();
    args();
    return this.tuple().reduce();
  }
  /** OrderedDict() */
  odict(): this {
    return this.global("collections", "OrderedDict").op(0x29).reduce();
  }
  /** The persistent id ('storage', torch.<type>, key, 'cpu', numel), then BINPERSID. */
  storage(type: string, key: string, numel: number | (() => void)): this {
    this.mark().str("storage").global("torch", type).str(key).str("cpu");
    if (typeof numel === "number") this.int(numel);
    else numel();
    return this.tuple().op(0x51);
  }
  /** _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) */
  tensor(storage: () => void, offset: number, size: readonly number[] | (() => void), stride: readonly number[] | (() => void)): this {
    this.global("torch._utils", "_rebuild_tensor_v2").mark();
    storage();
    this.int(offset);
    for (const part of [size, stride]) {
      if (typeof part === "function") part();
      else {
        this.mark();
        for (const d of part) this.int(d);
        this.tuple();
      }
    }
    this.op(0x89).odict();
    return this.tuple().reduce();
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
  /** The pickle with STOP. */
  done(): Uint8Array {
    return this.op(0x2e).bytes();
  }
}

// ---------------------------------------------------------------------------------------------
// Synthetic torch checkpoints

const STORAGE_OF: Record<DType, string> = {
  float32: "FloatStorage",
  float64: "DoubleStorage",
  float16: "HalfStorage",
  bfloat16: "BFloat16Storage",
  int64: "LongStorage",
  int32: "IntStorage",
  int16: "ShortStorage",
  int8: "CharStorage",
  uint8: "ByteStorage",
  bool: "BoolStorage",
};
const SIZE_OF = DTYPE_SIZE;

export interface Storage {
  key: string;
  dtype: DType;
  bytes: Uint8Array;
}
export interface View {
  storage: Storage;
  offset: number;
  shape: number[];
  stride: number[];
}

export const numelOf = (s: Storage) => s.bytes.length / SIZE_OF[s.dtype];

/** A storage of `n` elements with deterministic values (i·k + 1 in the dtype's bytes). */
export function storageOf(key: string, dtype: DType, n: number, k = 1): Storage {
  const size = SIZE_OF[dtype];
  const bytes = new Uint8Array(n * size);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) {
    const v = i * k + 1;
    const o = i * size;
    switch (dtype) {
      case "float64":
        dv.setFloat64(o, v / 3, true);
        break;
      case "float32":
        dv.setFloat32(o, v / 7, true);
        break;
      case "float16":
      case "bfloat16":
        dv.setUint16(o, 0x3c00 + (v & 0x3ff), true);
        break;
      case "int64":
        dv.setBigInt64(o, BigInt(v) * -1234567891n, true);
        break;
      case "int32":
        dv.setInt32(o, v * -98765, true);
        break;
      case "int16":
        dv.setInt16(o, v * -123, true);
        break;
      case "int8":
        dv.setInt8(o, (v * 37) % 128);
        break;
      case "uint8":
        dv.setUint8(o, (v * 53) & 255);
        break;
      case "bool":
        dv.setUint8(o, v & 1);
        break;
    }
  }
  return { key, dtype, bytes };
}

/** What a correct reader returns for a view: its elements gathered in row-major order. */
export function expectView(v: View): ExpectedTensor {
  const size = SIZE_OF[v.storage.dtype];
  const n = v.shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(n * size);
  const idx = new Array<number>(v.shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let off = v.offset;
    for (let d = 0; d < idx.length; d++) off += idx[d] * v.stride[d];
    out.set(v.storage.bytes.subarray(off * size, off * size + size), i * size);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < v.shape[d]) break;
      idx[d] = 0;
    }
  }
  return { dtype: v.storage.dtype, shape: [...v.shape], digest: tensorDigest(v.storage.dtype, v.shape, out) };
}

/** Write a view as torch.save does. */
export function writeView(p: Pickle, v: View): Pickle {
  return p.tensor(() => p.storage(STORAGE_OF[v.storage.dtype], v.storage.key, numelOf(v.storage)), v.offset, v.shape, v.stride);
}

/** A state dict pickle (OrderedDict of views, with torch's `_metadata` BUILD state). */
export function stateDictPickle(views: readonly [string, View][], opts: { metadata?: boolean } = {}): Uint8Array {
  const p = new Pickle().odict().mark();
  for (const [k, v] of views) writeView(p.str(k), v);
  p.op(0x75); // SETITEMS
  if (opts.metadata !== false) {
    // BUILD {"_metadata": OrderedDict({"": {"version": 1}})}
    p.op(0x7d).str("_metadata").odict().str("").op(0x7d).str("version").int(1).op(0x73, 0x73, 0x73, 0x62);
  }
  return p.done();
}

export interface PthOptions {
  top?: string;
  /** Deflate these member kinds (torch never does; the reader supports it). */
  deflate?: boolean;
  byteorder?: string;
  /** Replace or add members (by name, after the top folder). */
  patch?: (members: ZipMember[]) => ZipMember[] | undefined;
}

/** A torch.save-style zip: <top>/data.pkl, <top>/byteorder, <top>/data/<key>…, <top>/version. */
export async function writePth(pickle: Uint8Array, storages: readonly Storage[], opts: PthOptions = {}): Promise<Uint8Array> {
  const top = opts.top ?? "archive";
  const member = async (name: string, data: Uint8Array): Promise<ZipMember> =>
    opts.deflate ? { name: `${top}/${name}`, data, deflated: await deflateRaw(data) } : { name: `${top}/${name}`, data };
  let members: ZipMember[] = [await member("data.pkl", pickle), await member("byteorder", utf8(opts.byteorder ?? "little"))];
  const seen = new Set<string>();
  for (const s of storages) {
    if (seen.has(s.key)) continue;
    seen.add(s.key);
    members.push(await member(`data/${s.key}`, s.bytes));
  }
  members.push(await member("version", utf8("3\n")));
  members = opts.patch?.(members) ?? members;
  return writeZip(members);
}

/** Expected tensors by name, in a null-prototype object (a name like `__proto__` is an ordinary key). */
export function tensorsOf(entries: readonly [string, ExpectedTensor][]): ExpectedTensors {
  const out: ExpectedTensors = Object.create(null);
  for (const [k, t] of entries) out[k] = t;
  return out;
}

export const viewsOf = (views: readonly [string, View][]) => views.map(([, v]) => v.storage);
export const expectAll = (views: readonly [string, View][]): ExpectedTensors => {
  const out: ExpectedTensors = Object.create(null);
  for (const [k, v] of views) out[k] = expectView(v);
  return out;
};

/** The synthetic state dict: every dtype, a transposed view, an offset view, a shared storage, a 0-d and an empty tensor. */
export function synthViews(): [string, View][] {
  const s0 = storageOf("0", "float32", 12);
  const dtypes: DType[] = ["float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"];
  const views: [string, View][] = [
    ["layer.weight", { storage: s0, offset: 0, shape: [3, 4], stride: [4, 1] }],
    ["layer.weight_t", { storage: s0, offset: 0, shape: [4, 3], stride: [1, 4] }],
    ["layer.slice", { storage: s0, offset: 5, shape: [2, 2], stride: [4, 1] }],
  ];
  for (const [i, dt] of dtypes.entries()) views.push([`typed.${dt}`, { storage: storageOf(String(i + 1), dt, 6, i + 2), offset: 1, shape: [5], stride: [1] }]);
  const s9 = storageOf("20", "float32", 1);
  views.push(["scalar", { storage: s9, offset: 0, shape: [], stride: [] }]);
  views.push(["empty", { storage: storageOf("21", "float32", 0), offset: 0, shape: [0], stride: [1] }]);
  return views;
}

// ---------------------------------------------------------------------------------------------
// safetensors and npy

/** A safetensors file with this exact header text and data section. */
export function safetensorsRaw(header: string, data: Uint8Array): Uint8Array {
  const h = utf8(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** A `.npy` file with this header text, padded with spaces and a newline to a multiple of 64 (or to `padTo` bytes before the data). */
export function npyRaw(header: string, data: Uint8Array, opts: { version?: 1 | 2 | 3; padTo?: number } = {}): Uint8Array {
  const version = opts.version ?? 1;
  const pre = version === 1 ? 10 : 12;
  const total = pre + header.length + 1;
  const pad = opts.padTo !== undefined ? opts.padTo - total : (64 - (total % 64)) % 64;
  const text = `${header}${" ".repeat(pad)}\n`;
  const hb = version === 3 ? utf8(text) : latin1(text);
  const out = new Uint8Array(pre + hb.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, hb.length, true);
  else dv.setUint32(8, hb.length, true);
  out.set(hb, pre);
  out.set(data, pre + hb.length);
  return out;
}

interface Arr {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: Uint8Array;
}
function arr(name: string, dtype: DType, shape: number[], k = 1): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, dtype, shape, bytes: storageOf(name, dtype, n, k).bytes };
}
const hostOf = (a: Arr) => {
  const b = a.bytes.slice();
  const data = (() => {
    switch (a.dtype) {
      case "float64":
        return new Float64Array(b.buffer);
      case "float32":
        return new Float32Array(b.buffer);
      case "float16":
      case "bfloat16":
        return new Uint16Array(b.buffer);
      case "int64":
        return new BigInt64Array(b.buffer);
      case "int32":
        return new Int32Array(b.buffer);
      case "int16":
        return new Int16Array(b.buffer);
      case "int8":
        return new Int8Array(b.buffer);
      default:
        return b;
    }
  })();
  return { dtype: a.dtype, shape: a.shape, data };
};
const expectArrs = (arrs: readonly Arr[]): ExpectedTensors => {
  const out: ExpectedTensors = Object.create(null);
  for (const a of arrs) out[a.name] = { dtype: a.dtype, shape: a.shape, digest: tensorDigest(a.dtype, a.shape, a.bytes) };
  return out;
};
const synthArrays = (): Arr[] => [
  arr("mu", "float64", [5]),
  arr("sigma", "float32", [3, 4], 3),
  arr("labels", "int64", [4], 5),
  arr("mask", "bool", [2, 3]),
  arr("bytes", "uint8", [7], 11),
  arr("half", "float16", [3]),
  arr("scalar", "int32", []),
  arr("empty", "float32", [0, 2]),
];

// ---------------------------------------------------------------------------------------------
// The corpus

export interface GenerateOptions {
  seed: number;
  /** Random truncations and as many random flips per base file. */
  files: number;
  /** The reference fixtures (test-fixtures/var-tiny), by name. */
  fixtures: Record<string, Uint8Array>;
  /** Where a payload that ran would leave its mark: `sentinel(id)` is a path that must never exist. */
  sentinel(id: string): string;
}

export interface Corpus {
  cases: FuzzCase[];
  /** The unmodified files the random cases derive from, with their tensors where known without a loader. */
  bases: Map<string, { ext: string; make(): Promise<Uint8Array>; tensors?: ExpectedTensors; detectable: boolean }>;
}

/** d[0] = leaf; d[i+1] = {"a": d[i], "b": d[i]}: 2^levels paths through `levels` containers. */
function dictBomb(p: Pickle, levels: number, leaf: () => void): Pickle {
  leaf();
  p.put(0).pop();
  for (let i = 0; i < levels; i++) p.op(0x7d).mark().str("a").get(i).str("b").get(i).op(0x75).put(i + 1).pop();
  return p.get(levels);
}
/** t[0] = leaf; t[i+1] = (t[i], t[i]). */
function tupleBomb(p: Pickle, levels: number, leaf: () => void = () => p.mark().int(1).tuple()): Pickle {
  leaf();
  p.put(0).pop();
  for (let i = 0; i < levels; i++) p.get(i).get(i).op(0x86).put(i + 1).pop();
  return p.get(levels);
}
/** l[0] = leaf; l[i+1] = [l[i], l[i]]. */
function listBomb(p: Pickle, levels: number, leaf: () => void): Pickle {
  leaf();
  p.put(0).pop();
  for (let i = 0; i < levels; i++) p.op(0x5d).mark().get(i).get(i).op(0x65).put(i + 1).pop();
  return p.get(levels);
}

export async function generateCorpus(opts: GenerateOptions): Promise<Corpus> {
  const cases: FuzzCase[] = [];
  const add = (c: Omit<FuzzCase, "detectable"> & { detectable?: boolean }) => cases.push({ detectable: true, ...c });
  const f4 = storageOf("0", "float32", 4);
  const w: View = { storage: f4, offset: 0, shape: [4], stride: [1] };
  const wExpected = { w: expectView(w) };
  /** A .pth whose pickle is {"<key>": <value written by build>} over storage "0" (4 floats) unless told. */
  const pthOf = (build: (p: Pickle) => void, storages: Storage[] = [f4], o: PthOptions = {}) => () => {
    const p = new Pickle().odict();
    build(p);
    return writePth(p.done(), storages, o);
  };
  const tensorW = (p: Pickle) => writeView(p, w);
  const storage0 = (p: Pickle) => () => p.storage("FloatStorage", "0", 4);

  // ---- pickle amplification -------------------------------------------------------------------
  {
    const cls = "pickle-amplification" as const;
    const A = (variant: string, note: string, build: (p: Pickle) => void, expect: FuzzCase["expect"] = "error", tensors?: ExpectedTensors) =>
      add({ cls, id: `${cls}/${variant}`, ext: ".pth", make: pthOf(build), expect, tensors, note });
    A("dict-bomb-30", "billion laughs: d[i+1] = {a: d[i], b: d[i]}, 30 levels, as a value", (p) => dictBomb(p.str("x"), 30, () => p.op(0x7d)).op(0x73));
    A("dict-bomb-30-over-tensor", "the dict bomb with a tensor at the bottom (2^30 names)", (p) =>
      dictBomb(p.str("x"), 30, () => tensorW(p.op(0x7d).str("w")).op(0x73)).op(0x73),
    );
    A("list-bomb-30-over-tensor", "l[i+1] = [l[i], l[i]] over a tensor, 30 levels", (p) => listBomb(p.str("x"), 30, () => tensorW(p)).op(0x73));
    A("tuple-bomb-as-size", "a 30-level tuple bomb as a tensor's size", (p) => p.str("w").tensor(storage0(p), 0, () => tupleBomb(p, 30), [1]).op(0x73));
    A("tuple-bomb-as-stride", "a 30-level tuple bomb as a tensor's stride", (p) => p.str("w").tensor(storage0(p), 0, [4], () => tupleBomb(p, 30)).op(0x73));
    A("tuple-bomb-as-persistent-id", "a 30-level tuple bomb as a persistent id", (p) => tupleBomb(p.str("w"), 30).op(0x51, 0x73));
    A("tuple-bomb-as-storage-count", "a tuple bomb as a storage's element count", (p) =>
      p.str("w").tensor(() => p.storage("FloatStorage", "0", () => tupleBomb(p, 30)), 0, [4], [1]).op(0x73),
    );
    A("tuple-bomb-as-dict-key", "a 30-level tuple bomb as a dict key", (p) => tupleBomb(p, 30).str("v").op(0x73));
    A("tuple-bomb-as-codecs-argument", "a tuple bomb passed to _codecs.encode (whitelisted; stringifies its argument)", (p) =>
      p.str("x").call("_codecs", "encode", () => tupleBomb(p, 30).str("latin1")).op(0x73),
    );
    A("list-bomb-as-codecs-argument", "a list bomb passed to _codecs.encode", (p) =>
      p.str("x").call("_codecs", "encode", () => listBomb(p, 30, () => p.op(0x5d)).str("latin1")).op(0x73),
    );
    A("tuple-bomb-as-list-argument", "a tuple bomb passed to builtins.list, builtins.set and frozenset", (p) => {
      p.str("x").call("builtins", "list", () => tupleBomb(p, 30));
      p.op(0x73).str("y").call("builtins", "set", () => p.get(30));
      p.op(0x73).str("z").call("builtins", "frozenset", () => p.get(30)).op(0x73);
    }, "clean", {});
    A("tuple-bomb-as-parameter-argument", "a tuple bomb of tensors through _rebuild_parameter", (p) =>
      p.str("x").call("torch._utils", "_rebuild_parameter", () => tupleBomb(p, 30, () => tensorW(p)).op(0x89).odict()).op(0x73),
    );
    A("tuple-bomb-as-from-type-argument", "a tuple bomb as the args of _rebuild_from_type_v2", (p) =>
      p.str("x").call("torch._tensor", "_rebuild_from_type_v2", () => tupleBomb(p.global("torch.nn.parameter", "Parameter").global("torch", "Tensor"), 30, () => tensorW(p))).op(0x73),
    );
    A("dict-bomb-as-build-state", "a dict bomb as the root's BUILD state (_metadata)", (p) => {
      tensorW(p.str("w")).op(0x73);
      p.op(0x7d).str("_metadata");
      dictBomb(p, 30, () => p.op(0x7d)).op(0x73, 0x62);
    }, "clean", wExpected);
    A("memo-shared-tensor-2^20", "one tensor under 2^20 names through a shared dict (20 levels)", (p) =>
      dictBomb(p.str("x"), 20, () => tensorW(p.op(0x7d).str("w")).op(0x73)).op(0x73),
    );
    A("self-referencing-list", "a list that contains itself, beside a tensor", (p) => tensorW(p.str("x").op(0x5d).put(0)).op(0x61).get(0).op(0x61, 0x73));
    A("self-referencing-dict", "a dict that contains itself, beside a tensor", (p) => tensorW(p.str("x").op(0x7d).put(0).str("w")).op(0x73).str("self").get(0).op(0x73, 0x73));
    A("self-referencing-list-no-tensor", "a list that contains itself, no tensor", (p) => p.str("x").op(0x5d).put(0).get(0).op(0x61, 0x73), "clean", {});
    A("self-referencing-via-list-call", "builtins.list of a list that contains itself", (p) =>
      p.str("x").call("builtins", "list", () => p.op(0x5d).put(0).get(0).op(0x61)).op(0x73),
      "clean",
      {},
    );
    const deep = (p: Pickle, n: number, open: number, close: number[], leaf?: () => void) => {
      for (let i = 0; i < n; i++) p.op(open);
      leaf?.();
      if (leaf) p.op(...close);
      for (let i = 0; i < n - 1; i++) p.op(...close);
      return p;
    };
    A("deep-lists-1e5-over-tensor", "1e5 nested lists with a tensor at the bottom", (p) => deep(p.str("x"), 100_000, 0x5d, [0x61], () => tensorW(p)).op(0x73));
    A("deep-lists-1e5", "1e5 nested lists, no tensor (metadata)", (p) => deep(p.str("x"), 100_000, 0x5d, [0x61]).op(0x73), "clean", {});
    A("deep-dicts-1e5-over-tensor", "1e5 nested dicts {a: {a: … w}}", (p) => {
      p.str("x");
      for (let i = 0; i < 100_000; i++) p.op(0x7d).str("a");
      tensorW(p);
      for (let i = 0; i < 100_000; i++) p.op(0x73);
      p.op(0x73);
    });
    A("deep-tuples-1e5", "1e5 nested 1-tuples as a value", (p) => {
      p.str("x").int(1);
      for (let i = 0; i < 100_000; i++) p.op(0x85);
      p.op(0x73);
    }, "clean", {});
    A("deep-tuples-1e5-as-codecs-argument", "1e5 nested 1-tuples passed to _codecs.encode", (p) => {
      p.str("x").global("_codecs", "encode").int(1);
      for (let i = 0; i < 100_000; i++) p.op(0x85);
      p.str("latin1").op(0x86).reduce().op(0x73);
    });
    A("deep-tuples-1e5-as-size", "1e5 nested 1-tuples as a tensor's size", (p) =>
      p.str("w").tensor(storage0(p), 0, () => {
        p.int(4);
        for (let i = 0; i < 100_000; i++) p.op(0x85);
      }, [1]).op(0x73),
    );
    A("deep-tuples-1e5-as-persistent-id", "1e5 nested 1-tuples as a persistent id", (p) => {
      p.str("w").int(1);
      for (let i = 0; i < 100_000; i++) p.op(0x85);
      p.op(0x51, 0x73);
    });
    A("deep-tuples-1e5-as-dict-key", "1e5 nested 1-tuples as a dict key", (p) => {
      p.int(1);
      for (let i = 0; i < 100_000; i++) p.op(0x85);
      p.str("v").op(0x73);
    });
    A("marks-1e5", "1e5 MARKs left open (Python refuses it at STOP; harmless either way)", (p) => {
      for (let i = 0; i < 100_000; i++) p.mark();
    }, "clean", {});
    // one opcode, one object: what unpickling allocates per byte of pickle
    const many = (variant: string, note: string, op: number[], n: number) =>
      A(variant, note, (p) => {
        for (let i = 0; i < n; i++) p.op(...op);
      });
    many("empty-dicts-1MiB", "2^20 EMPTY_DICT opcodes (one dict per byte), left on the stack", [0x7d], 1 << 20);
    many("empty-sets-1MiB", "2^20 EMPTY_SET opcodes", [0x8f], 1 << 20);
    many("empty-lists-1MiB", "2^20 EMPTY_LIST opcodes", [0x5d], 1 << 20);
    many("empty-tuples-1MiB", "2^20 EMPTY_TUPLE opcodes", [0x29], 1 << 20);
    many("empty-bytes-1MiB", "2^19 SHORT_BINBYTES of length 0 (a typed array per 2 bytes)", [0x43, 0], 1 << 19);
    A("memoize-1MiB", "the root memoized 2^20 times (MEMOIZE; a valid pickle)", (p) => {
      for (let i = 0; i < 1 << 20; i++) p.op(0x94);
    }, "clean", {});
    A("wide-at-depth-250", "a tensor and 3e5 references to one empty dict in a list 250 dicts deep (cost once grew with depth x width)", (p) => {
      p.str("x");
      for (let i = 0; i < 250; i++) p.op(0x7d).sstr("a");
      p.op(0x7d).put(0).pop().op(0x5d).mark();
      tensorW(p);
      for (let i = 0; i < 300_000; i++) p.op(0x68, 0); // BINGET 0
      p.op(0x65);
      for (let i = 0; i < 250; i++) p.op(0x73);
      p.op(0x73);
    }, "clean", { [`x.${"a.".repeat(250)}0`]: wExpected.w });
    A("memo-1e5-keys", "1e5 distinct memo keys holding copies of one list", (p) => {
      p.op(0x5d).put(0);
      for (let i = 1; i < 100_000; i++) p.put(i * 7919);
      p.pop();
    }, "clean", {});
  }

  // ---- big integers ---------------------------------------------------------------------------
  {
    const cls = "big-integers" as const;
    const B = (variant: string, note: string, build: (p: Pickle) => void, expect: FuzzCase["expect"] = "error") =>
      add({ cls, id: `${cls}/${variant}`, ext: ".pth", make: pthOf(build), expect, tensors: {}, note });
    const long4 = (p: Pickle, n: number, fill: number) => {
      p.op(0x8b, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255);
      p.raw(new Uint8Array(n).fill(fill));
      return p;
    };
    B("long4-256KiB", "LONG4 with a 256 KiB payload", (p) => long4(p.str("x"), 256 << 10, 7).op(0x73));
    B("long4-1MiB", "LONG4 with a 1 MiB payload", (p) => long4(p.str("x"), 1 << 20, 0xff).op(0x73));
    B("long4-1MiB-as-size", "a 1 MiB LONG4 as a tensor's size", (p) => p.str("w").tensor(storage0(p), 0, () => long4(p, 1 << 20, 1).op(0x85), [1]).op(0x73));
    B("long4-1MiB-as-storage-count", "a 1 MiB LONG4 as a storage's element count", (p) =>
      p.str("w").tensor(() => p.storage("FloatStorage", "0", () => long4(p, 1 << 20, 3)), 0, [4], [1]).op(0x73),
    );
    B("long4-length-2^31-truncated", "LONG4 declaring 2^31-1 bytes, then the file ends", (p) => p.str("x").op(0x8b, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3));
    B("long1-255-bytes", "LONG1 of 255 bytes", (p) => p.str("x").op(0x8a, 255).raw(new Uint8Array(255).fill(0x11)).op(0x73));
    B("long-text-1e5-digits", "LONG (text) of 1e5 digits", (p) => p.str("x").op(0x4c).raw(utf8(`${"9".repeat(100_000)}L\n`)).op(0x73));
    B("int-text-1e5-digits", "INT (text) of 1e5 digits", (p) => p.str("x").op(0x49).raw(utf8(`${"7".repeat(100_000)}\n`)).op(0x73));
    B("long1-2^64-as-storage-count", "an element count of 2^64 (LONG1)", (p) =>
      p.str("w").tensor(() => p.storage("FloatStorage", "0", () => p.long1(1n << 64n)), 0, [4], [1]).op(0x73),
    );
    B("long1-2^63-as-offset", "a storage offset of 2^63 (LONG1)", (p) => {
      p.str("w").global("torch._utils", "_rebuild_tensor_v2").mark();
      p.storage("FloatStorage", "0", 4);
      p.long1(1n << 63n).mark().int(4).tuple().mark().int(1).tuple().op(0x89).odict().tuple().reduce().op(0x73);
    });
    B("long1-2^53+1-as-size", "a size of 2^53+1 (LONG1)", (p) => p.str("w").tensor(storage0(p), 0, () => p.mark().long1((1n << 53n) + 1n).tuple(), [0]).op(0x73));
  }

  // ---- decompression bombs --------------------------------------------------------------------
  {
    const cls = "decompression-bombs" as const;
    const GiB = 1 << 30;
    const validPickle = () => {
      const p = new Pickle().odict().str("w");
      writeView(p, w).op(0x73);
      return p.done();
    };
    /** A pth whose member `which` is a bomb: a prefix, then zeros to `total` bytes; declared as the prefix (or honestly). */
    const bombPth = (which: "data.pkl" | "byteorder" | "data/0", total: number, honest: boolean, numel = 4) => async () => {
      const storages = [honest && which === "data/0" ? { ...f4, bytes: new Uint8Array(0) } : f4];
      let pickle = validPickle();
      if (honest && which === "data/0") {
        const p = new Pickle().odict().str("w");
        p.tensor(() => p.storage("FloatStorage", "0", numel), 0, [numel], [1]).op(0x73);
        pickle = p.done();
      }
      const prefix = which === "data.pkl" ? pickle.subarray(0, pickle.length - 1) : which === "byteorder" ? utf8("little") : honest ? new Uint8Array(0) : f4.bytes;
      const bomb = deflateBomb(prefix, total - prefix.length);
      return writePth(pickle, storages, {
        patch: (ms) =>
          ms.map((m) => {
            if (m.name !== `archive/${which}`) return m;
            const content = which === "data.pkl" ? pickle : which === "byteorder" ? utf8("little") : f4.bytes;
            if (honest) return { name: m.name, data: new Uint8Array(0), deflated: bomb.stream, size: bomb.inflated, crc: crc32ThenZeros(crc32(prefix), bomb.inflated - prefix.length) };
            return { name: m.name, data: content, deflated: bomb.stream };
          }),
      });
    };
    add({ cls, id: `${cls}/data.pkl-1GiB`, ext: ".pth", make: bombPth("data.pkl", GiB, false), expect: "error", note: "a deflated data.pkl declaring its pickle's size, inflating to 1 GiB" });
    add({ cls, id: `${cls}/storage-1GiB`, ext: ".pth", make: bombPth("data/0", GiB, false), expect: "error", note: "a deflated storage declaring 16 bytes, inflating to 1 GiB" });
    add({ cls, id: `${cls}/storage-3GiB`, ext: ".pth", make: bombPth("data/0", 3 * GiB, false), expect: "error", note: "a deflated storage declaring 16 bytes, inflating to 3 GiB (a 3 MiB file)" });
    add({ cls, id: `${cls}/byteorder-1GiB`, ext: ".pth", make: bombPth("byteorder", GiB, false), expect: "error", note: "a deflated byteorder declaring 6 bytes, inflating to 1 GiB" });
    add({
      cls,
      id: `${cls}/storage-honest-1GiB`,
      ext: ".pth",
      make: bombPth("data/0", GiB, true, GiB / 4),
      expect: "error",
      note: "a deflated storage honestly declaring 1 GiB (CRC right) for a tensor of 2^28 floats, in a 1 MiB file",
    });
    const npyHead = writeNpy({ dtype: "float32", shape: [4], data: new Float32Array([1, 2, 3, 4]) });
    add({
      cls,
      id: `${cls}/npz-member-1GiB`,
      ext: ".npz",
      make: async () => writeZip([{ name: "x.npy", data: npyHead, deflated: deflateBomb(npyHead, GiB).stream }]),
      expect: "error",
      note: "a deflated npz member declaring its .npy size, inflating to 1 GiB",
    });
    add({
      cls,
      id: `${cls}/npz-member-honest-1GiB`,
      ext: ".npz",
      make: async () => {
        const head = npyRaw(`{'descr': '<f4', 'fortran_order': False, 'shape': (${GiB / 4},), }`, new Uint8Array(0));
        const b = deflateBomb(head, GiB);
        return writeZip([{ name: "x.npy", data: new Uint8Array(0), deflated: b.stream, size: b.inflated, crc: crc32ThenZeros(crc32(head), b.inflated - head.length) }]);
      },
      expect: "error",
      note: "a deflated npz member honestly declaring a 1 GiB float32 array (CRC right), in a 1 MiB file",
    });
    add({
      cls,
      id: `${cls}/npz-second-member-1GiB`,
      ext: ".npz",
      make: async () => {
        const ok = writeNpy({ dtype: "int32", shape: [2], data: new Int32Array([5, 6]) });
        return writeZip([
          { name: "a.npy", data: ok },
          { name: "b.npy", data: npyHead, deflated: deflateBomb(npyHead, GiB).stream },
        ]);
      },
      expect: "error",
      note: "an npz with a valid member and a bomb",
    });
  }

  // ---- integrity ------------------------------------------------------------------------------
  {
    const cls = "integrity" as const;
    const views = synthViews();
    const expected = expectAll(views);
    const pickle = stateDictPickle(views);
    const storages = viewsOf(views);
    const I = (variant: string, note: string, make: () => Promise<Uint8Array>, expect: FuzzCase["expect"] = "error", ext = ".pth", tensors: ExpectedTensors | undefined = expected) =>
      add({ cls, id: `${cls}/${variant}`, ext, make, expect, tensors, note });
    const rng = new Rng(opts.seed, cls);
    // a byte flipped in a stored storage: find it by its content
    for (let i = 0; i < 4; i++) {
      const s = rng.pick(storages.filter((x) => x.bytes.length > 0));
      const at = rng.int(0, s.bytes.length);
      const mask = 1 << rng.int(0, 8);
      I(`storage-byte-flipped#${i}`, `bit ${Math.log2(mask)} of byte ${at} of stored storage data/${s.key} flipped (CRC-32 unchanged)`, async () => {
        const bytes = await writePth(pickle, storages);
        const zipStart = findMember(bytes, `archive/data/${s.key}`);
        bytes[zipStart + at] ^= mask;
        return bytes;
      });
    }
    I("pickle-byte-flipped", "a tensor name in a stored data.pkl changed (layer.weight -> layer.weighu), CRC-32 unchanged", async () => {
      const bytes = await writePth(pickle, storages);
      const at = indexOf(bytes, utf8("layer.weight"), findMember(bytes, "archive/data.pkl"));
      bytes[at + 11] ^= 1;
      return bytes;
    });
    I("npz-member-byte-flipped", "a data byte of a stored .npy member flipped", async () => {
      const a = synthArrays();
      const bytes = writeNpz(a.map((x) => [x.name, hostOf(x)] as [string, ReturnType<typeof hostOf>]));
      const start = findMember(bytes, "sigma.npy");
      const headerEnd = 10 + new DataView(bytes.buffer, start + 8, 2).getUint16(0, true);
      bytes[start + headerEnd + 5] ^= 0x40;
      return bytes;
    }, "error", ".npz");
    {
      const big = arr("big", "float32", [1 << 19], 7); // 2 MiB
      const at = rng.int(0, big.bytes.length);
      I("npz-large-member-byte-flipped", `byte ${at} of the data of a 2 MiB stored .npy member flipped (read by range)`, async () => {
        const bytes = writeNpz([[big.name, hostOf(big)]]);
        const start = findMember(bytes, "big.npy");
        bytes[start + 10 + new DataView(bytes.buffer, start + 8, 2).getUint16(0, true) + at] ^= 0x10;
        return bytes;
      }, "error", ".npz", undefined);
      I("npz-large-member-shape-changed", "the shape (524288,) of a 2 MiB stored .npy member changed to (124288,) (the data then read is a quarter of the entry)", async () => {
        const bytes = writeNpz([[big.name, hostOf(big)]]);
        const at = indexOf(bytes, utf8("(524288,)"), findMember(bytes, "big.npy"));
        bytes[at + 1] = 0x31;
        return bytes;
      }, "error", ".npz", undefined);
      I("npz-big-header-data-flipped", "a data byte flipped in an .npy member whose valid 1 MiB header dwarfs its 16 bytes of data (an entry over 1 MiB, read by range)", async () => {
        const f = new Uint8Array(new Float32Array([1.5, -2, 3, 4]).buffer);
        const npy = npyRaw("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f, { version: 2, padTo: 1 << 20 });
        const bytes = writeZip([{ name: "x.npy", data: npy }]);
        bytes[findMember(bytes, "x.npy") + (1 << 20) + 2] ^= 0x01;
        return bytes;
      }, "error", ".npz", undefined);
      const s = storageOf("0", "float32", 1 << 19, 3);
      const v: [string, View][] = [["w", { storage: s, offset: 0, shape: [1 << 19], stride: [1] }], ["head", { storage: s, offset: 0, shape: [8], stride: [1] }]];
      I("large-storage-byte-flipped", `byte ${at} of a 2 MiB stored storage flipped (two views, one of 8 elements)`, async () => {
        const bytes = await writePth(stateDictPickle(v), [s]);
        bytes[findMember(bytes, "archive/data/0") + at] ^= 0x10;
        return bytes;
      });
    }
    I("deflated-storage-crc-wrong", "a deflated storage whose CRC-32 is off by one bit", () =>
      writePth(pickle, storages, { deflate: true, patch: (ms) => ms.map((m) => (m.name === "archive/data/0" ? { ...m, crc: crc32(m.data) ^ 1 } : m)) }),
    );
    I("duplicate-storage", "archive/data/0 twice, with different contents", () =>
      writePth(pickle, storages, {
        patch: (ms) => [...ms, { name: "archive/data/0", data: storageOf("0", "float32", 12, 9).bytes }],
      }),
    );
    I("duplicate-data.pkl", "archive/data.pkl twice: the second calls os.system", () =>
      writePth(pickle, storages, {
        patch: (ms) => [...ms, { name: "archive/data.pkl", data: new Pickle().global("os", "system").str("true").op(0x85).reduce().done() }],
      }),
    );
    I("duplicate-npz-member", "x.npy twice", async () =>
      writeZip([
        { name: "x.npy", data: writeNpy({ dtype: "int32", shape: [1], data: new Int32Array([1]) }) },
        { name: "x.npy", data: writeNpy({ dtype: "int32", shape: [1], data: new Int32Array([2]) }) },
      ]), "error", ".npz", undefined);
    I("local-name-differs", "the local header of data/0 names data/1", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/data/0" ? { ...m, local: { name: "archive/data/1" } } : m)) }),
    );
    I("local-method-differs", "the local header of data.pkl says deflated, the central directory stored", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/data.pkl" ? { ...m, local: { method: 8 } } : m)) }),
    );
    I("local-size-differs", "the local header of data/0 declares 8 bytes more", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/data/0" ? { ...m, local: { size: m.data.length + 8, compressedSize: m.data.length + 8 } } : m)) }),
    );
    I("local-crc-differs", "the local header of data/0 has another CRC-32", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/data/0" ? { ...m, local: { crc: (crc32(m.data) ^ 0x80000000) >>> 0 } } : m)) }),
    );
    I("data-descriptor-valid", "flag bit 3: zero sizes in the local headers, data descriptors after the data (valid)", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => ({ ...m, descriptor: true })) }),
      "load",
    );
    I("overlap-same-local-header", "data/1 points at data/0's local header (same bytes twice)", () =>
      writePth(pickle, storages, {
        patch: (ms) => ms.map((m) => (m.name === "archive/data/1" ? { name: m.name, data: m.data, at: "archive/data/0", crc: crc32(storages[0].bytes) } : m)),
      }),
    );
    I("overlap-spanning", "data.pkl's declared data runs over the next entry's local record (CRC-32 and sizes right)", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/data.pkl" ? { ...m, spanNext: true } : m)) }),
    );
    I("zip64-empty-extra", "sizes 0xffffffff with an empty ZIP64 extra field (the last central entry)", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/version" ? { ...m, zip64: "empty-extra" } : m)) }),
    );
    I("zip64-empty-extra-storage", "a storage with sizes 0xffffffff and an empty ZIP64 extra field", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/data/0" ? { ...m, zip64: "empty-extra" } : m)) }),
    );
    I("zip64-short-extra", "sizes 0xffffffff with an 8-byte ZIP64 extra field (16 needed)", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/version" ? { ...m, zip64: "short-extra" } : m)) }),
    );
    I("zip64-empty-extra-unneeded", "an empty ZIP64 extra field on an entry with 32-bit sizes", () =>
      writePth(pickle, storages, { patch: (ms) => ms.map((m) => (m.name === "archive/data/0" ? { ...m, zip64: "empty-extra-unneeded" } : m)) }),
      "clean",
    );
    I("zip64-valid", "every entry in ZIP64 form, ZIP64 end record (valid)", async () =>
      writeZip(
        await pthMembers(pickle, storages).then((ms) => ms.map((m) => ({ ...m, zip64: "full" as const }))),
        { zip64End: true },
      ),
      "load",
    );
    I("eocd-count-too-large", "the end record claims 60,000 entries", async () => writeZip(await pthMembers(pickle, storages), { count: 60_000 }));
    I("cd-after-gap", "64 junk bytes between the entries and the central directory", async () => writeZip(await pthMembers(pickle, storages), { gap: new Uint8Array(64).fill(0x50) }), "clean");
    // safetensors
    const stData = new Uint8Array(48).map((_, i) => i);
    const S = (variant: string, note: string, header: unknown, expect: FuzzCase["expect"] = "error", tensors?: ExpectedTensors, data = stData) =>
      add({ cls, id: `${cls}/safetensors-${variant}`, ext: ".safetensors", make: async () => safetensorsRaw(typeof header === "string" ? header : JSON.stringify(header), data), expect, tensors, detectable: false, note });
    S("overlapping", "two tensors on the same bytes", { a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, c: { dtype: "F32", shape: [8], data_offsets: [16, 48] } });
    S("partly-overlapping", "two tensors sharing 8 bytes", { a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [4], data_offsets: [8, 24] }, c: { dtype: "F32", shape: [6], data_offsets: [24, 48] } });
    S("gap", "16 bytes that belong to no tensor", { a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [4], data_offsets: [32, 48] } });
    S("trailing-bytes", "the data section is 32 bytes longer than its tensors", { a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } });
    S("metadata-number", "a non-string metadata value (a number)", { __metadata__: { format: 1 }, a: { dtype: "F32", shape: [12], data_offsets: [0, 48] } });
    S("metadata-object", "a non-string metadata value (nested objects)", { __metadata__: { format: { deep: [1, 2, { x: null }] } }, a: { dtype: "F32", shape: [12], data_offsets: [0, 48] } });
    S("metadata-array", "metadata that is an array", { __metadata__: ["pt"], a: { dtype: "F32", shape: [12], data_offsets: [0, 48] } });
    S("metadata-string", "metadata that is a string", { __metadata__: "pt", a: { dtype: "F32", shape: [12], data_offsets: [0, 48] } });
    S("metadata-deep", "metadata nested 1e5 deep", `{"__metadata__":{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}},"a":{"dtype":"F32","shape":[12],"data_offsets":[0,48]}}`);
    S("entry-not-object", "a tensor entry that is a number", { a: 5 });
    S("entry-null", "a tensor entry that is null", { a: null });
    S("offsets-floats", "data_offsets as floats", { a: { dtype: "F32", shape: [12], data_offsets: [0.5, 48.5] } });
    S("offsets-huge", "data_offsets beyond 2^53", `{"a":{"dtype":"F32","shape":[12],"data_offsets":[0,18446744073709551616]}}`);
    S("offsets-backwards", "end before begin", { a: { dtype: "F32", shape: [0], data_offsets: [48, 0] } });
    S("header-not-object", "a header that is an array", "[1,2,3]");
    S("header-bom", "a header that starts with a UTF-8 byte-order mark", `\ufeff{"a":{"dtype":"F32","shape":[12],"data_offsets":[0,48]}}`, "clean", {
      a: { dtype: "float32", shape: [12], digest: tensorDigest("float32", [12], stData) },
    });
    S("header-invalid-utf8", "a header with an invalid UTF-8 byte in a name", "", "error", undefined);
    cases[cases.length - 1].make = async () => {
      const b = safetensorsRaw(`{"a\u00ff":{"dtype":"F32","shape":[12],"data_offsets":[0,48]}}`, stData);
      b[8 + 3] = 0xff; // the 0xc3 lead byte of ÿ becomes 0xff
      return b;
    };
    S("duplicate-key", "the same tensor name twice in the header", `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[12],"data_offsets":[0,48]}}`, "clean", {
      a: { dtype: "float32", shape: [12], digest: tensorDigest("float32", [12], stData) },
    });
    S("empty-tensors-share-offsets", "three empty tensors at [0, 0] before one of 16 bytes (valid: safetensors writes empty tensors so)", {
      e1: { dtype: "F32", shape: [0], data_offsets: [0, 0] },
      e2: { dtype: "F32", shape: [0, 4], data_offsets: [0, 0] },
      e3: { dtype: "I64", shape: [2, 0], data_offsets: [0, 0] },
      a: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
    }, "load", {
      e1: { dtype: "float32", shape: [0], digest: tensorDigest("float32", [0], new Uint8Array(0)) },
      e2: { dtype: "float32", shape: [0, 4], digest: tensorDigest("float32", [0, 4], new Uint8Array(0)) },
      e3: { dtype: "int64", shape: [2, 0], digest: tensorDigest("int64", [2, 0], new Uint8Array(0)) },
      a: { dtype: "float32", shape: [4], digest: tensorDigest("float32", [4], stData.subarray(0, 16)) },
    }, stData.subarray(0, 16));
    S("header-1MiB-of-spaces", "a valid header padded with 1 MiB of spaces", `{"a":{"dtype":"F32","shape":[12],"data_offsets":[0,48]}}${" ".repeat(1 << 20)}`, "load", {
      a: { dtype: "float32", shape: [12], digest: tensorDigest("float32", [12], stData) },
    });
    S("valid", "a valid file with string metadata (must load)", { __metadata__: { format: "pt" }, a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "I64", shape: [2, 2], data_offsets: [16, 48] } }, "load", {
      a: { dtype: "float32", shape: [4], digest: tensorDigest("float32", [4], stData.subarray(0, 16)) },
      b: { dtype: "int64", shape: [2, 2], digest: tensorDigest("int64", [2, 2], stData.subarray(16, 48)) },
    });
  }

  // ---- views and sizes ------------------------------------------------------------------------
  {
    const cls = "views-sizes" as const;
    const V = (variant: string, note: string, make: () => Promise<Uint8Array>, expect: FuzzCase["expect"] = "error", tensors: ExpectedTensors | undefined = {}, ext = ".pth") =>
      add({ cls, id: `${cls}/${variant}`, ext, make, expect, tensors, note, detectable: ext === ".pth" || ext === ".npz" });
    const count = (variant: string, note: string, n: (p: Pickle) => void) =>
      V(variant, note, pthOf((p) => p.str("w").tensor(() => p.storage("FloatStorage", "0", () => n(p)), 0, [4], [1]).op(0x73)));
    count("storage-count-NaN", "a storage count that is NaN (BINFLOAT)", (p) => p.float(Number.NaN));
    count("storage-count-infinity", "a storage count that is +Infinity", (p) => p.float(Number.POSITIVE_INFINITY));
    count("storage-count-4.5", "a storage count of 4.5", (p) => p.float(4.5));
    V("storage-count-4.0", "a storage count of 4.0 (a float, equal to an integer)", pthOf((p) => p.str("w").tensor(() => p.storage("FloatStorage", "0", () => p.float(4)), 0, [4], [1]).op(0x73)), "clean", wExpected);
    count("storage-count-negative", "a storage count of -1", (p) => p.int(-1));
    count("storage-count-string", "a storage count that is a string", (p) => p.str("4"));
    count("storage-count-2^53", "a storage count of 2^53 (not safe)", (p) => p.float(2 ** 53));
    const view = (variant: string, note: string, offset: number, shape: number[], stride: number[], storages: Storage[] = [f4], numel = 4, expect: FuzzCase["expect"] = "error", tensors: ExpectedTensors = {}, o: PthOptions = {}) =>
      V(variant, note, pthOf((p) => p.str("w").tensor(() => p.storage("FloatStorage", "0", numel), offset, shape, stride).op(0x73), storages, o), expect, tensors);
    view("stride-0-2^40", "a stride-0 view of 2^40 elements of a 4-element storage", 0, [1 << 20, 1 << 20], [0, 0]);
    view("stride-0-2^24", "a stride-0 view of 2^24 elements of a 4-element storage", 0, [1 << 12, 1 << 12], [0, 0]);
    view("shape-product-overflows", "a shape whose product overflows 2^53", 0, [2 ** 30, 2 ** 30, 2 ** 30, 0x7fffffff], [0, 0, 0, 0]);
    view("shape-product-overflows-with-zero", "a zero dimension beside dimensions whose product overflows", 0, [0, 2 ** 30, 2 ** 30, 2 ** 30], [1, 1, 1, 1], [f4], 4, "clean", {
      w: { dtype: "float32", shape: [0, 2 ** 30, 2 ** 30, 2 ** 30], digest: tensorDigest("float32", [0, 2 ** 30, 2 ** 30, 2 ** 30], new Uint8Array(0)) },
    });
    view("rank-100", "a view of rank 100 (PyTorch allows 64)", 0, new Array(100).fill(1), new Array(100).fill(1));
    view("past-storage", "a view past the end of its storage", 2, [4], [1]);
    view("offset-past-storage", "an offset past the storage, empty shape", 9, [], []);
    view("numel-larger-than-entry", "a storage count of 1e6 for a 16-byte entry", 0, [4], [1], [f4], 1_000_000);
    view("past-deflated-storage", "a view past a deflated storage", 0, [8], [1], [f4], 8, "error", {}, { deflate: true });
    view("numel-larger-than-deflated-entry", "a storage count of 1e6 for a deflated 16-byte entry", 0, [4], [1], [f4], 1_000_000, "error", {}, { deflate: true });
    V("deflated-size-lies-large", "a deflated storage declaring 4 MiB that inflates to 16 bytes", async () => {
      const p = new Pickle().odict().str("w");
      p.tensor(() => p.storage("FloatStorage", "0", 1 << 20), 0, [4], [1]).op(0x73);
      return writePth(p.done(), [f4], { deflate: true, patch: (ms) => ms.map((m) => (m.name === "archive/data/0" ? { ...m, size: 4 << 20 } : m)) });
    });
    V("deflated-size-lies-small", "a deflated storage declaring 8 bytes that inflates to 16", async () => {
      const p = new Pickle().odict().str("w");
      p.tensor(() => p.storage("FloatStorage", "0", 2), 0, [2], [1]).op(0x73);
      return writePth(p.done(), [f4], { deflate: true, patch: (ms) => ms.map((m) => (m.name === "archive/data/0" ? { ...m, size: 8, crc: crc32(f4.bytes.subarray(0, 8)) } : m)) });
    });
    // many views of one storage: legal; reading them all must not cost one storage read per view
    const big = storageOf("0", "float32", 1 << 18); // 1 MiB
    const many: [string, View][] = [];
    for (let i = 0; i < 2048; i++) many.push([`v${i}`, { storage: big, offset: i * 128, shape: [128], stride: [1] }]);
    V("2048-views-of-one-1MiB-storage", "2048 views of 512 bytes each over one 1 MiB storage (legal: must load without re-reading the storage per view)", () => writePth(stateDictPickle(many), [big]), "load", expectAll(many));
    const empty = (shape: number[], stride: number[]): [string, View][] => [["e", { storage: storageOf("0", "float32", 0), offset: 0, shape, stride }]];
    V("empty-tensor-0", "torch.empty(0): a storage of 0 elements, size [0] (valid)", () => writePth(stateDictPickle(empty([0], [1])), viewsOf(empty([0], [1]))), "load", expectAll(empty([0], [1])));
    V("empty-tensor-0x3", "torch.empty(0, 3): a storage of 0 elements, size [0, 3], stride [3, 1] (valid)", () => writePth(stateDictPickle(empty([0, 3], [3, 1])), viewsOf(empty([0, 3], [3, 1]))), "load", expectAll(empty([0, 3], [3, 1])));
    V("empty-tensor-4x0x2", "torch.empty(4, 0, 2).transpose(0, 2): size [2, 0, 4], stride [1, 2, 2] (valid)", () => writePth(stateDictPickle(empty([2, 0, 4], [1, 2, 2])), viewsOf(empty([2, 0, 4], [1, 2, 2]))), "load", expectAll(empty([2, 0, 4], [1, 2, 2])));
    V("stride-0-within-limit", "a legal stride-0 view: 4 elements broadcast to [64, 4]", () => writePth(stateDictPickle([["w", { storage: f4, offset: 0, shape: [64, 4], stride: [0, 1] }]]), [f4]), "clean", expectAll([["w", { storage: f4, offset: 0, shape: [64, 4], stride: [0, 1] }]]));
    // safetensors and npy sizes
    const st = (variant: string, note: string, header: string, data = new Uint8Array(16), expect: FuzzCase["expect"] = "error", tensors: ExpectedTensors = {}) =>
      V(`safetensors-${variant}`, note, async () => safetensorsRaw(header, data), expect, tensors, ".safetensors");
    st("shape-product-overflows", "a shape whose product overflows", `{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}}`);
    st("shape-product-2^52", "a shape of 2^52 float32 for 16 bytes", `{"a":{"dtype":"F32","shape":[67108864,67108864],"data_offsets":[0,16]}}`);
    st("shape-zero-and-huge", "a zero beside a dimension of 2^60", `{"a":{"dtype":"F32","shape":[0,1152921504606846976],"data_offsets":[0,0]}}`, new Uint8Array(0));
    st("shape-negative", "a negative dimension", `{"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}`);
    st("shape-float", "a fractional dimension", `{"a":{"dtype":"F32","shape":[4.5],"data_offsets":[0,16]}}`);
    st("shape-rank-1e5", "a shape of 1e5 ones", `{"a":{"dtype":"F32","shape":[${new Array(100_000).fill(1).join(",")}],"data_offsets":[0,4]}}`, new Uint8Array(4), "clean", {
      a: { dtype: "float32", shape: new Array(100_000).fill(1), digest: tensorDigest("float32", new Array(100_000).fill(1), new Uint8Array(4)) },
    });
    st("header-length-2^63", "a header length of 2^63", "", new Uint8Array(0));
    cases[cases.length - 1].make = async () => {
      const b = new Uint8Array(64).fill(0x20);
      new DataView(b.buffer).setBigUint64(0, 1n << 63n, true);
      b[8] = 0x7b;
      return b;
    };
    const npy = (variant: string, note: string, header: string, data = new Uint8Array(16), expect: FuzzCase["expect"] = "error", tensors: ExpectedTensors = {}) =>
      V(`npy-${variant}`, note, async () => npyRaw(header, data), expect, tensors, ".npy");
    npy("shape-product-overflows", "a shape whose product overflows", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }");
    npy("shape-2^62", "a zero beside a dimension of 2^62 (not a safe integer)", "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904), }", new Uint8Array(0));
    npy("shape-negative", "a negative dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }");
    npy("shape-float", "a fractional dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (4.5,), }");
    npy("fortran-rank-40", "Fortran order, rank 40 of ones", `{'descr': '<f4', 'fortran_order': True, 'shape': (${new Array(40).fill("1").join(", ")}), }`, new Uint8Array(4), "clean", {
      arr_0: { dtype: "float32", shape: new Array(40).fill(1), digest: tensorDigest("float32", new Array(40).fill(1), new Uint8Array(4)) },
    });
  }

  // ---- keys -----------------------------------------------------------------------------------
  {
    const cls = "keys" as const;
    const s = storageOf("0", "float32", 12);
    const v = (offset: number, n: number): View => ({ storage: s, offset, shape: [n], stride: [1] });
    const K = (variant: string, note: string, make: () => Promise<Uint8Array>, tensors: ExpectedTensors | undefined, expect: FuzzCase["expect"] = "load", ext = ".pth") =>
      add({ cls, id: `${cls}/${variant}`, ext, make, expect, tensors, note, detectable: ext !== ".safetensors" });
    const protoNames = ["__proto__", "constructor", "toString", "hasOwnProperty", "__defineGetter__", "valueOf"];
    const protoViews: [string, View][] = protoNames.map((n, i) => [n, v(i, 4)]);
    K("pth-object-prototype-names", "tensors named __proto__, constructor, toString, hasOwnProperty, …", () => writePth(stateDictPickle(protoViews), [s]), expectAll(protoViews));
    K("pth-nested-in-lists", "tensors nested in lists and tuples: {layers: [[t], [t, t]], tup: (t,), a: [{b: t}]}", async () => {
      const p = new Pickle().odict().mark();
      p.str("layers").op(0x5d).mark().op(0x5d);
      writeView(p, v(0, 2)).op(0x61).op(0x5d); // [t], then a second list
      writeView(p, v(2, 2)).op(0x61);
      writeView(p, v(4, 2)).op(0x61, 0x65); // [t, t]; APPENDS both lists into layers
      p.str("tup");
      writeView(p, v(6, 3)).op(0x85);
      p.str("a").op(0x5d, 0x7d).str("b");
      writeView(p, v(9, 3)).op(0x73, 0x61);
      p.op(0x75);
      return writePth(p.done(), [s]);
    }, expectAll([["layers.0.0", v(0, 2)], ["layers.1.0", v(2, 2)], ["layers.1.1", v(4, 2)], ["tup.0", v(6, 3)], ["a.0.b", v(9, 3)]]));
    K("pth-integer-keys", "integer dict keys {0: t, 1: t}", async () => {
      const p = new Pickle().odict().mark().int(0);
      writeView(p, v(0, 3)).int(1);
      writeView(p, v(3, 3)).op(0x75);
      return writePth(p.done(), [s]);
    }, expectAll([["0", v(0, 3)], ["1", v(3, 3)]]));
    K("pth-colliding-names", "two tensors that flatten to one name: {\"a.b\": t1, a: {b: t2}}", async () => {
      const p = new Pickle().odict().mark().str("a.b");
      writeView(p, v(0, 3)).str("a").op(0x7d).str("b");
      writeView(p, v(3, 3)).op(0x73, 0x75);
      return writePth(p.done(), [s]);
    }, undefined, "error");
    K("pth-colliding-int-and-string", "{0: t1, \"0\": t2}", async () => {
      const p = new Pickle().odict().mark().int(0);
      writeView(p, v(0, 3)).str("0");
      writeView(p, v(3, 3)).op(0x75);
      return writePth(p.done(), [s]);
    }, undefined, "error");
    K("pth-empty-and-unicode-names", "a tensor named \"\" and one named 'ζ/../\\u0000'", () => writePth(stateDictPickle([["", v(0, 2)], ["ζ/../\u0000", v(2, 2)]]), [s]), expectAll([["", v(0, 2)], ["ζ/../\u0000", v(2, 2)]]));
    K("pth-long-name", "a tensor name of 100,000 characters", () => writePth(stateDictPickle([["n".repeat(100_000), v(0, 2)]]), [s]), expectAll([["n".repeat(100_000), v(0, 2)]]));
    const st = new Uint8Array(16).map((_, i) => i * 3);
    K("safetensors-object-prototype-names", "safetensors tensors named __proto__ and constructor", async () =>
      safetensorsRaw(`{"__proto__":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"constructor":{"dtype":"U8","shape":[8],"data_offsets":[8,16]}}`, st),
      tensorsOf([
        ["__proto__", { dtype: "float32", shape: [2], digest: tensorDigest("float32", [2], st.subarray(0, 8)) }],
        ["constructor", { dtype: "uint8", shape: [8], digest: tensorDigest("uint8", [8], st.subarray(8, 16)) }],
      ]),
      "load",
      ".safetensors",
    );
    const a = arr("__proto__", "float32", [3]);
    const b = arr("a/b", "int32", [2]);
    K("npz-object-prototype-names", "npz members __proto__.npy and a/b.npy", async () => writeNpz([[a.name, hostOf(a)], [b.name, hostOf(b)]]), expectArrs([a, b]), "load", ".npz");
    // a prototype-named key must not change what the summary of other keys says
    K("pth-proto-with-shape-key", "a tensor named __proto__ beside one named keys", () => writePth(stateDictPickle([["__proto__", v(0, 1)], ["keys", v(1, 1)]]), [s]), expectAll([["__proto__", v(0, 1)], ["keys", v(1, 1)]]));
  }

  // ---- npy / npz ------------------------------------------------------------------------------
  {
    const cls = "npy-npz" as const;
    const f = new Uint8Array(new Float32Array([1.5, -2, 3, 4]).buffer);
    const N = (variant: string, note: string, make: () => Promise<Uint8Array>, expect: FuzzCase["expect"], tensors: ExpectedTensors | undefined = {}, ext = ".npy") =>
      add({ cls, id: `${cls}/${variant}`, ext, make, expect, tensors, note, detectable: ext === ".npz" });
    const f4x4 = { arr_0: { dtype: "float32" as const, shape: [4], digest: tensorDigest("float32", [4], f) } };
    const H = (variant: string, note: string, header: string, expect: FuzzCase["expect"], tensors: ExpectedTensors | undefined = {}, o: { version?: 1 | 2 | 3; padTo?: number } = {}, data = f) =>
      N(variant, note, async () => npyRaw(header, data, o), expect, tensors);
    H("object-beside-second-descr", "'descr': '<f4' and a later 'descr': '|O' (numpy reads the last: an object array)", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'descr': '|O', }", "error");
    H("descr-then-object", "'descr': '|O' then 'descr': '<f4' (numpy reads <f4)", "{'descr': '|O', 'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "clean", f4x4);
    H("object-hidden-in-string", "a string value holding \"'descr': '<f4'\" before the real 'descr': '|O'", "{'x': \"'descr': '<f4', 'fortran_order': False, 'shape': (4,)\", 'descr': '|O', 'fortran_order': False, 'shape': (4,), }", "error");
    H("object", "'descr': '|O'", "{'descr': '|O', 'fortran_order': False, 'shape': (4,), }", "error");
    H("structured", "a structured dtype [('a', '<f4')]", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", "error");
    H("structured-hiding-object", "a structured dtype whose second field is an object", "{'descr': [('a', '<f4'), ('b', '|O')], 'fortran_order': False, 'shape': (2,), }", "error");
    for (const d of ["<U1", "<c8", "<u4", "<M8", "|V4", "|S4"]) H(`descr-${d.replace(/[<|]/g, "")}`, `an unsupported dtype ${d}`, `{'descr': '${d}', 'fortran_order': False, 'shape': (4,), }`, "error");
    H("extra-key", "an extra key (numpy refuses it)", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'extra': 1, }", "clean", f4x4);
    H("missing-shape", "no 'shape' key", "{'descr': '<f4', 'fortran_order': False, }", "error");
    H("not-a-dict", "a header that is a list", "['descr', '<f4']", "error");
    H("shape-in-comment", "a shape mentioned in a string value beside the real one", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': \"'shape': (1000000000,)\", }", "clean", f4x4);
    H("header-8KiB-valid", "a valid version 1.0 header padded to 8 KiB (must load)", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "load", f4x4, { padTo: 8192 });
    H("header-60KiB-valid", "a valid version 1.0 header of 60 KiB (must load)", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "load", f4x4, { padTo: 61440 });
    H("version-2-valid", "a valid version 2.0 header", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "load", f4x4, { version: 2 });
    H("version-3-valid", "a valid version 3.0 header", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "load", f4x4, { version: 3 });
    H("header-length-past-file", "a header length past the end of the file", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "error", {}, {}, new Uint8Array(0));
    cases[cases.length - 1].make = async () => {
      const b = npyRaw("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f);
      new DataView(b.buffer).setUint16(8, 0xfff0, true);
      return b;
    };
    H("zero-d-valid", "a 0-d array, shape ()", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "load", { arr_0: { dtype: "float32", shape: [], digest: tensorDigest("float32", [], f.subarray(0, 4)) } }, {}, f.subarray(0, 4));
    H("shape-not-a-tuple", "'shape': (4) is an int, not a tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': (4), }", "clean", f4x4);
    H("data-truncated", "4 floats declared, 2 present", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "error", {}, {}, f.subarray(0, 8));
    {
      // big-endian, Fortran order, 2x3 int16: column-major 0,3,1,4,2,5 of [[0,1,2],[3,4,5]]
      const be = new Uint8Array(12);
      const le = new Uint8Array(12);
      for (let i = 0; i < 6; i++) {
        new DataView(be.buffer).setInt16(2 * i, [0, 3, 1, 4, 2, 5][i] * 1000 - 2000, false);
        new DataView(le.buffer).setInt16(2 * i, i * 1000 - 2000, true);
      }
      H("big-endian-fortran-valid", "a big-endian Fortran-order 2x3 int16 array", "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }", "load", { arr_0: { dtype: "int16", shape: [2, 3], digest: tensorDigest("int16", [2, 3], le) } }, {}, be);
    }
    // npz holding a */data.pkl
    const x = arr("x", "float32", [3]);
    const xnpy = writeNpy(hostOf(x));
    N("npz-with-garbage-data.pkl", "an npz with x.npy and archive/data.pkl (garbage)", async () =>
      writeZip([{ name: "x.npy", data: xnpy }, { name: "archive/data.pkl", data: latin1("not a pickle") }]), "clean", expectArrs([x]), ".npz");
    N("npz-with-evil-data.pkl", "an npz with x.npy and archive/data.pkl calling os.system", async () =>
      writeZip([{ name: "x.npy", data: xnpy }, { name: "archive/data.pkl", data: new Pickle().global("os", "system").str(`touch ${opts.sentinel("npy-npz/npz-with-evil-data.pkl")}`).op(0x85).reduce().done() }]),
      "clean", expectArrs([x]), ".npz");
    cases[cases.length - 1].sentinel = opts.sentinel("npy-npz/npz-with-evil-data.pkl");
    N("npz-with-torch-data.pkl", "an npz with x.npy and a torch archive/data.pkl whose storage is missing", async () =>
      writeZip([{ name: "x.npy", data: xnpy }, { name: "archive/data.pkl", data: stateDictPickle([["w", w]]) }]), "clean", expectArrs([x]), ".npz");
    N("npz-with-suffix-data.pkl", "an npz with x.npy and mydata.pkl (a name ending in data.pkl)", async () =>
      writeZip([{ name: "x.npy", data: xnpy }, { name: "mydata.pkl", data: latin1("junk") }]), "clean", expectArrs([x]), ".npz");
    N("npz-object-member", "an npz member that is an object array (a pickle after the header)", async () => {
      const evil = new Pickle().global("os", "system").str(`touch ${opts.sentinel("npy-npz/npz-object-member")}`).op(0x85).reduce().done();
      return writeZip([{ name: "x.npy", data: npyRaw("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", evil) }]);
    }, "error", undefined, ".npz");
    cases[cases.length - 1].sentinel = opts.sentinel("npy-npz/npz-object-member");
    N("npz-deflated-valid", "a valid npz with deflated members (savez_compressed)", async () => {
      const arrs = synthArrays();
      return writeZip(await Promise.all(arrs.map(async (a) => {
        const data = writeNpy(hostOf(a));
        return { name: `${a.name}.npy`, data, deflated: await deflateRaw(data) };
      })));
    }, "load", expectArrs(synthArrays()), ".npz");
    N("npz-member-header-8KiB", "an npz member with a valid 8 KiB header (must load)", async () =>
      writeZip([{ name: "x.npy", data: npyRaw("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f, { padTo: 8192 }) }]),
      "load", { x: f4x4.arr_0 }, ".npz");
    N("npz-no-npy", "a zip with x.txt only", async () => writeZip([{ name: "x.txt", data: latin1("hi") }]), "error", undefined, ".npz");
  }

  // ---- code execution -------------------------------------------------------------------------
  {
    const cls = "code-execution" as const;
    const C = (variant: string, note: string, build: (p: Pickle, cmd: string) => void, protocol = 2) => {
      const id = `${cls}/${variant}`;
      const sentinel = opts.sentinel(id);
      add({
        cls,
        id,
        ext: ".pth",
        make: async () => {
          const p = new Pickle(protocol);
          build(p, `touch ${sentinel}`);
          return writePth(p.done(), [f4]);
        },
        expect: "error",
        sentinel,
        note,
      });
    };
    C("os.system", "GLOBAL os.system REDUCE", (p, cmd) => p.global("os", "system").str(cmd).op(0x85).reduce());
    C("posix.system", "GLOBAL posix.system REDUCE", (p, cmd) => p.global("posix", "system").str(cmd).op(0x85).reduce());
    C("nt.system", "GLOBAL nt.system REDUCE", (p, cmd) => p.global("nt", "system").str(cmd).op(0x85).reduce());
    C("builtins.eval", "builtins.eval(\"__import__('os').system(…)\")", (p, cmd) => p.global("builtins", "eval").str(`__import__('os').system(${JSON.stringify(cmd)})`).op(0x85).reduce());
    C("builtins.exec", "builtins.exec", (p, cmd) => p.global("builtins", "exec").str(`import os; os.system(${JSON.stringify(cmd)})`).op(0x85).reduce());
    C("__builtin__.eval", "Python 2's __builtin__.eval", (p, cmd) => p.global("__builtin__", "eval").str(cmd).op(0x85).reduce());
    C("builtins.getattr", "builtins.getattr(builtins.dict, '__class__')", (p) => p.global("builtins", "getattr").global("builtins", "dict").str("__class__").op(0x86).reduce());
    C("subprocess.Popen", "subprocess.Popen(['touch', sentinel])", (p, cmd) => p.global("subprocess", "Popen").op(0x5d).mark().str("touch").str(cmd.slice(6)).op(0x65, 0x85).reduce());
    C("subprocess.check_output", "subprocess.check_output via NEWOBJ", (p, cmd) => p.global("subprocess", "check_output").str(cmd).op(0x85, 0x81));
    C("stack-global-os.system", "protocol 4: FRAME, STACK_GLOBAL('os', 'system'), MEMOIZE, REDUCE", (p, cmd) => {
      p.op(0x95, 0, 0, 0, 0, 0, 0, 0, 0).stackGlobal("os", "system").op(0x94).str(cmd).op(0x94, 0x85, 0x94).reduce();
    }, 4);
    C("stack-global-memoized-names", "STACK_GLOBAL with module and name from the memo", (p, cmd) => {
      p.sstr("posix").put(0).pop().sstr("system").put(1).pop().get(0).get(1).op(0x93).str(cmd).op(0x85).reduce();
    }, 4);
    C("stack-global-dotted", "STACK_GLOBAL('builtins', 'eval.__call__')", (p, cmd) => p.stackGlobal("builtins", "eval.__call__").str(cmd).op(0x85).reduce(), 4);
    C("stack-global-in-whitelisted-module", "STACK_GLOBAL('collections', 'OrderedDict.fromkeys')", (p) => p.stackGlobal("collections", "OrderedDict.fromkeys").mark().int(1).tuple().reduce(), 4);
    C("stack-global-non-string", "STACK_GLOBAL with an integer module", (p) => p.int(1).sstr("system").op(0x93), 4);
    C("inst-opcode", "protocol 0: INST os system", (p, cmd) => p.mark().str(cmd).op(0x69).raw(utf8("os\nsystem\n")), 0);
    C("obj-opcode", "OBJ with os.system", (p, cmd) => p.mark().global("os", "system").str(cmd).op(0x6f));
    C("ext1-opcode", "EXT1 (copyreg extension registry)", (p) => p.op(0x82, 1));
    C("rebuild-from-type-with-system", "_rebuild_from_type_v2(os.system, …)", (p, cmd) =>
      p.call("torch._tensor", "_rebuild_from_type_v2", () => p.global("os", "system").global("torch", "Tensor").mark().str(cmd).tuple()),
    );
    C("build-setstate", "OrderedDict with a BUILD state naming os.system", (p, cmd) => p.odict().op(0x7d).str("__setstate__").global("os", "system").op(0x73, 0x62).str(cmd).pop());
    C("persid-text", "PERSID (text) of a command", (p, cmd) => p.op(0x50).raw(utf8(`${cmd}\n`)));
    C("torch-load", "torch.load as a global", (p, cmd) => p.global("torch", "load").str(cmd).op(0x85).reduce());
    C("torch-storage-load-from-bytes", "torch.storage._load_from_bytes", (p, cmd) => p.global("torch.storage", "_load_from_bytes").str(cmd).op(0x85).reduce());
    C("prototype-global", "GLOBAL __proto__ / constructor", (p) => p.global("__proto__", "constructor").op(0x29).reduce());
    C("operator-attrgetter", "operator.attrgetter", (p) => p.global("operator", "attrgetter").str("system").op(0x85).reduce());
    C("nested-in-state-dict", "os.system as a tensor value in a state dict", (p, cmd) => {
      p.odict().str("w");
      p.global("os", "system").str(cmd).op(0x85).reduce().op(0x73);
    });
  }

  // ---- random truncations and flips of valid files -------------------------------------------
  const bases: Corpus["bases"] = new Map();
  {
    const views = synthViews();
    const pickle = stateDictPickle(views);
    const arrays = synthArrays();
    bases.set("synth.pth", { ext: ".pth", make: () => writePth(pickle, viewsOf(views)), tensors: expectAll(views), detectable: true });
    bases.set("synth-deflated.pth", { ext: ".pth", make: () => writePth(pickle, viewsOf(views), { deflate: true }), tensors: expectAll(views), detectable: true });
    bases.set("synth.safetensors", {
      ext: ".safetensors",
      make: async () => writeSafetensors(arrays.map((a) => [a.name, hostOf(a)] as [string, ReturnType<typeof hostOf>]), { format: "pt" }),
      tensors: expectArrs(arrays),
      detectable: false,
    });
    bases.set("synth.npz", { ext: ".npz", make: async () => writeNpz(arrays.map((a) => [a.name, hostOf(a)] as [string, ReturnType<typeof hostOf>])), tensors: expectArrs(arrays), detectable: true });
    bases.set("synth-deflated.npz", {
      ext: ".npz",
      make: async () => writeZip(await Promise.all(arrays.map(async (a) => {
        const data = writeNpy(hostOf(a));
        return { name: `${a.name}.npy`, data, deflated: await deflateRaw(data) };
      }))),
      tensors: expectArrs(arrays),
      detectable: true,
    });
    const one = arrays[1];
    bases.set("synth.npy", { ext: ".npy", make: async () => writeNpy(hostOf(one)), tensors: { arr_0: expectArrs([one])[one.name] }, detectable: false });
    for (const [name, bytes] of Object.entries(opts.fixtures)) {
      const ext = name.slice(name.lastIndexOf("."));
      bases.set(name, { ext, make: async () => bytes, detectable: ext === ".pth" || ext === ".npz" });
    }
    for (const [name, b] of bases) {
      const rng = new Rng(opts.seed, `random/${name}`);
      add({ cls: "random", id: `random/${name}:unchanged`, ext: b.ext, make: b.make, expect: "load", tensors: b.tensors, base: name, detectable: b.detectable, note: `${name} unchanged` });
      // the size is only known once built: draw fractions now, positions from them later
      const edge = 4096;
      const position = (size: number, u: number, mode: number) => {
        if (mode < 0.4) return Math.floor(u * size);
        if (mode < 0.7) return Math.floor(u * Math.min(size, edge));
        return Math.max(0, size - 1 - Math.floor(u * Math.min(size, edge)));
      };
      for (let i = 0; i < opts.files; i++) {
        const u = rng.next();
        const mode = rng.next();
        add({
          cls: "random",
          id: `random/${name}:truncate#${i}`,
          ext: b.ext,
          make: async () => {
            const full = await b.make();
            return full.slice(0, position(full.length, u, mode));
          },
          expect: "clean",
          tensors: b.tensors,
          base: name,
          detectable: true, // a truncated file cannot load the same tensors with different values unnoticed: every format has sizes
          note: `${name} cut at ${mode < 0.4 ? "a uniform" : mode < 0.7 ? "an early" : "a late"} point`,
        });
      }
      for (let i = 0; i < opts.files; i++) {
        const flips = Array.from({ length: rng.int(1, 4) }, () => ({ u: rng.next(), mode: rng.next(), mask: rng.next() < 0.5 ? 1 << rng.int(0, 8) : rng.int(1, 256) }));
        add({
          cls: "random",
          id: `random/${name}:flip#${i}`,
          ext: b.ext,
          make: async () => {
            const out = (await b.make()).slice();
            for (const f of flips) out[position(out.length, f.u, f.mode)] ^= f.mask;
            return out;
          },
          expect: "clean",
          tensors: b.tensors,
          base: name,
          detectable: b.detectable,
          note: `${name} with ${flips.length} byte(s) changed`,
        });
      }
    }
  }
  return { cases, bases };
}

/** The data offset of a member in an archive written by writeZip (its first local header with that name). */
function findMember(zip: Uint8Array, name: string): number {
  const nb = utf8(name);
  const dv = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  for (let p = 0; p + 30 <= zip.length; ) {
    if (dv.getUint32(p, true) !== 0x04034b50) break;
    const nl = dv.getUint16(p + 26, true);
    const el = dv.getUint16(p + 28, true);
    const cs = dv.getUint32(p + 18, true);
    if (nl === nb.length && nb.every((c, i) => zip[p + 30 + i] === c)) return p + 30 + nl + el;
    p += 30 + nl + el + cs;
  }
  throw new Error(`findMember: ${name} not found`);
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("indexOf: not found");
}

async function pthMembers(pickle: Uint8Array, storages: readonly Storage[]): Promise<ZipMember[]> {
  let members: ZipMember[] = [];
  await writePth(pickle, storages, {
    patch: (ms) => {
      members = ms;
      return ms;
    },
  });
  return members;
}

