/**
 * Element types of checkpoint tensors and their host arrays. Half and
 * bfloat16 stay raw (Uint16Array) until converted, int64 is BigInt64Array,
 * bool is Uint8Array.
 */
import { CheckpointFormatError } from "./source.js";

export type DType =
  | "float64"
  | "float32"
  | "float16"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

export type HostArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** A tensor in host memory, row-major (C order). */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: HostArray;
}

export const DTYPE_SIZE: Record<DType, number> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** View little-endian bytes as a typed array of `dtype` (copies when unaligned). */
export function viewAs(dtype: DType, bytes: Uint8Array): HostArray {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength % size) throw new CheckpointFormatError(`byte length ${bytes.byteLength} is not a multiple of ${size} for ${dtype}`);
  const b = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const n = b.byteLength / size;
  switch (dtype) {
    case "float64":
      return new Float64Array(b.buffer, b.byteOffset, n);
    case "float32":
      return new Float32Array(b.buffer, b.byteOffset, n);
    case "float16":
    case "bfloat16":
      return new Uint16Array(b.buffer, b.byteOffset, n);
    case "int64":
      return new BigInt64Array(b.buffer, b.byteOffset, n);
    case "int32":
      return new Int32Array(b.buffer, b.byteOffset, n);
    case "int16":
      return new Int16Array(b.buffer, b.byteOffset, n);
    case "int8":
      return new Int8Array(b.buffer, b.byteOffset, n);
    case "uint8":
    case "bool":
      return new Uint8Array(b.buffer, b.byteOffset, n);
  }
}

/** Swap the byte order of each element in place (big-endian files). */
export function byteSwap(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Convert any floating or integer host tensor to float32 values. */
export function toFloat32(t: HostTensor): Float32Array {
  const d = t.data;
  if (t.dtype === "float32") return d as Float32Array;
  const out = new Float32Array(d.length);
  if (t.dtype === "float16") {
    for (let i = 0; i < d.length; i++) out[i] = halfToFloat((d as Uint16Array)[i]);
  } else if (t.dtype === "bfloat16") {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < d.length; i++) u[i] = (d as Uint16Array)[i] << 16;
  } else if (t.dtype === "int64") {
    for (let i = 0; i < d.length; i++) out[i] = Number((d as BigInt64Array)[i]);
  } else {
    for (let i = 0; i < d.length; i++) out[i] = (d as Float64Array)[i];
  }
  return out;
}

/** Convert an integer host tensor to int32, failing on values out of range. */
export function toInt32(t: HostTensor): Int32Array {
  if (t.dtype === "int32") return t.data as Int32Array;
  const d = t.data;
  const out = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new RangeError(`value ${d[i]} at index ${i} does not fit int32`);
    }
    out[i] = v;
  }
  return out;
}

/** Copy a strided view (element strides) of `src` into a new row-major array of the same type. */
export function gatherStrided(src: HostArray, shape: readonly number[], stride: readonly number[]): HostArray {
  const n = numel(shape);
  const out = new (src.constructor as new (n: number) => HostArray)(n);
  const o = out as unknown as unknown[];
  const s = src as unknown as unknown[];
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    o[i] = s[off];
    for (let d = rank - 1; d >= 0; d--) {
      off += stride[d];
      if (++idx[d] < shape[d]) break;
      off -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}
