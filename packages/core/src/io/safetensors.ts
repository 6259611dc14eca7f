/**
 * safetensors (https://github.com/huggingface/safetensors format spec):
 * u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`,
 * then the data. Reading is lazy; writing produces files that
 * `safetensors.torch.load_file` accepts (contiguous offsets, 8-byte aligned header).
 */
import { DTYPE_SIZE, type DType, type HostTensor, numel, viewAs } from "./dtype.js";
import { type ByteSource, CheckpointFormatError } from "./source.js";
import { missingKey, type TensorInfo, type TensorStore } from "./store.js";

const TO_DTYPE: Record<string, DType> = {
  F64: "float64",
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I64: "int64",
  I32: "int32",
  I16: "int16",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};
const FROM_DTYPE = Object.fromEntries(Object.entries(TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Largest header we accept (the reference implementation's limit is 100 MB). */
const MAX_HEADER = 100_000_000;

interface Entry extends TensorInfo {
  begin: number;
  end: number;
}

export async function openSafetensors(source: ByteSource): Promise<TensorStore> {
  const name = source.name;
  if (source.size < 8) throw new CheckpointFormatError(`${name}: too small to be a safetensors file (${source.size} bytes)`);
  const lenBytes = await source.read(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, source.size - 8))) {
    throw new CheckpointFormatError(`${name}: safetensors header length ${n} exceeds the file (truncated or not safetensors)`);
  }
  const headerLen = Number(n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await source.read(8, headerLen)));
  } catch (e) {
    throw new CheckpointFormatError(`${name}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new CheckpointFormatError(`${name}: safetensors header is not a JSON object`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = source.size - dataStart;
  const entries = new Map<string, Entry>();
  let metadata: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(header)) {
    if (key === "__metadata__") {
      metadata = (v ?? {}) as Record<string, unknown>;
      continue;
    }
    const e = v as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    const dtype = TO_DTYPE[e?.dtype ?? ""];
    if (!dtype) throw new CheckpointFormatError(`${name}: tensor "${key}" has unsupported dtype ${JSON.stringify(e?.dtype)}`);
    const shape = e.shape;
    const offs = e.data_offsets;
    const okInts = (a: unknown, len?: number): a is number[] =>
      Array.isArray(a) && (len === undefined || a.length === len) && a.every((x) => Number.isSafeInteger(x) && x >= 0);
    if (!okInts(shape)) throw new CheckpointFormatError(`${name}: tensor "${key}" has a malformed shape`);
    if (!okInts(offs, 2) || offs[1] < offs[0]) throw new CheckpointFormatError(`${name}: tensor "${key}" has malformed data_offsets`);
    if (offs[1] > dataLen) {
      throw new CheckpointFormatError(
        `${name}: tensor "${key}" data_offsets [${offs}] are out of range (data section has ${dataLen} bytes; truncated file?)`,
      );
    }
    if (offs[1] - offs[0] !== numel(shape) * DTYPE_SIZE[dtype]) {
      throw new CheckpointFormatError(`${name}: tensor "${key}" byte range does not match shape [${shape}] of ${dtype}`);
    }
    entries.set(key, { name: key, dtype, shape, begin: offs[0], end: offs[1] });
  }
  return new SafetensorsStore(source, entries, metadata, dataStart);
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
 */
export function writeSafetensors(
  tensors: Iterable<[string, HostTensor]> | Map<string, HostTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = [...tensors];
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const [k, t] of list) {
    if (k === "__metadata__") throw new Error('"__metadata__" is reserved in safetensors');
    const len = numel(t.shape) * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== len) throw new Error(`tensor "${k}": data has ${t.data.byteLength} bytes, shape [${t.shape}] of ${t.dtype} needs ${len}`);
    header[k] = { dtype: FROM_DTYPE[t.dtype], shape: t.shape, data_offsets: [off, off + len] };
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
