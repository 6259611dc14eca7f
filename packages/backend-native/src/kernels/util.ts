/**
 * What the native kernels share: a kernel is a function that either runs on
 * the device and returns its output, or returns null for a case it does not
 * handle (another dtype, layout or broadcast), which then runs
 * tfjs-backend-cpu's kernel of the same name (see backend.ts).
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { NativeBackend } from "../backend.js";
import type { Device } from "../device.js";

export interface NativeArgs {
  /** Optional inputs (a bias) may be missing although typed as present. */
  inputs: Record<string, tf.TensorInfo>;
  backend: NativeBackend;
  attrs?: tf.NamedAttrMap;
}

/** A kernel of the device, by tfjs kernel name; null: let tfjs-backend-cpu's kernel run it. */
export interface NativeKernel {
  kernelName: string;
  /** Its output (several, as an array, for SplitV and Unpack), or null. */
  run(args: NativeArgs, device: Device): tf.TensorInfo | tf.TensorInfo[] | null;
}

/** The float32 values of `t`, or null when it is not a float32 tensor in a Float32Array. */
export function f32(be: NativeBackend, t: tf.TensorInfo | undefined): Float32Array | null {
  if (t?.dtype !== "float32") return null;
  const v = be.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

/** Several inputs' float32 values, or null when any is not float32. */
export function f32s(be: NativeBackend, ...ts: (tf.TensorInfo | undefined)[]): Float32Array[] | null {
  const out: Float32Array[] = [];
  for (const t of ts) {
    const v = f32(be, t);
    if (!v) return null;
    out.push(v);
  }
  return out;
}

/**
 * A float32 output of `shape` and its values, from the backend's pool
 * (pool.ts): its contents are unspecified unless `zeroed`, so a kernel
 * writes every element or asks for zeros.
 */
export function output(be: NativeBackend, shape: number[], zeroed = false): { info: tf.TensorInfo; values: Float32Array } {
  const values = be.pool.take(shape.reduce((a, b) => a * b, 1), zeroed);
  return { info: be.makeTensorInfo(shape, "float32", values), values };
}

/** Row-major element strides of `shape`. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, n = 1; d >= 0; n *= shape[d], d--) s[d] = n;
  return s;
}

/**
 * `shape` and each operand's element strides with size-1 dimensions dropped
 * and neighbouring dimensions merged where every operand steps through them
 * as through one (the destination being row-major): GroupNorm's
 * (B, H, W, G, 1) − (B, 1, 1, G, 1) becomes (B, H·W, G) − (B, 0, 1), one
 * inner loop of G per row instead of one index computation per element.
 */
export function coalesce(shape: readonly number[], strides: readonly ArrayLike<number>[]): { shape: Int32Array; strides: Int32Array[] } {
  const dims: number[] = [];
  const out: number[][] = strides.map(() => []);
  shape.forEach((n, d) => {
    if (n === 1) return;
    const k = dims.length - 1;
    if (k >= 0 && strides.every((s, i) => out[i][k] === s[d] * n)) {
      dims[k] *= n;
      strides.forEach((s, i) => {
        out[i][k] = s[d];
      });
    } else {
      dims.push(n);
      strides.forEach((s, i) => {
        out[i].push(s[d]);
      });
    }
  });
  if (!dims.length) return { shape: Int32Array.of(1), strides: strides.map(() => Int32Array.of(1)) };
  return { shape: Int32Array.from(dims), strides: out.map((s) => Int32Array.from(s)) };
}
