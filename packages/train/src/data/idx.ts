/**
 * IDX files (the MNIST / Fashion-MNIST format, gzip-compressed or not):
 * two zero bytes, a type byte (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32,
 * 0x0D float32, 0x0E float64), the number of dimensions, each dimension as a
 * big-endian uint32, then the values big-endian in row-major order.
 * Gzip is recognised by its magic (1f 8b) and inflated with the platform's
 * DecompressionStream (Node ≥ 18 and browsers).
 */
import { DatasetError } from "./errors.js";

export type IdxType = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

export interface IdxArray {
  type: IdxType;
  dims: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, [IdxType, number]> = {
  8: ["uint8", 1],
  9: ["int8", 1],
  11: ["int16", 2],
  12: ["int32", 4],
  13: ["float32", 4],
  14: ["float64", 8],
};

export const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Inflate gzip bytes (any other bytes are returned as they are). */
export async function gunzipIfNeeded(bytes: Uint8Array, name = "file"): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DatasetError(`${name}: corrupt or truncated gzip data (${(e as Error).message})`);
  }
}

/** Parse uncompressed IDX bytes. */
export function parseIdx(bytes: Uint8Array, name = "idx"): IdxArray {
  if (bytes.length < 4) throw new DatasetError(`${name}: ${bytes.length} bytes, too short for an IDX file`);
  if (bytes[0] !== 0 || bytes[1] !== 0 || !(bytes[2] in TYPES)) {
    const hex = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new DatasetError(`${name}: not an IDX file (magic ${hex}; expected 00 00 <type 08/09/0b/0c/0d/0e> <ndim>)`);
  }
  const [type, size] = TYPES[bytes[2]];
  const ndim = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen) throw new DatasetError(`${name}: truncated header (${ndim} dimensions need ${headerLen} bytes, the file has ${bytes.length})`);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const want = headerLen + count * size;
  if (bytes.length < want) {
    throw new DatasetError(`${name}: truncated: dimensions [${dims}] of ${type} need ${want} bytes, the file has ${bytes.length}`);
  }
  if (bytes.length > want) throw new DatasetError(`${name}: ${bytes.length - want} bytes after the data of dimensions [${dims}]`);
  let data: IdxArray["data"];
  if (type === "uint8") data = bytes.slice(headerLen, want);
  else if (type === "int8") data = new Int8Array(bytes.slice(headerLen, want).buffer);
  else {
    const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type];
    const out = new Ctor(count);
    for (let i = 0; i < count; i++) {
      const o = headerLen + i * size;
      out[i] =
        type === "int16"
          ? view.getInt16(o, false)
          : type === "int32"
            ? view.getInt32(o, false)
            : type === "float32"
              ? view.getFloat32(o, false)
              : view.getFloat64(o, false);
    }
    data = out;
  }
  return { type, dims, data };
}

/** Parse IDX bytes, gzip-compressed or not. */
export async function readIdx(bytes: Uint8Array, name = "idx"): Promise<IdxArray> {
  return parseIdx(await gunzipIfNeeded(bytes, name), name);
}
