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

/** A new float32 output of `shape` and its values. */
export function output(be: NativeBackend, shape: number[]): { info: tf.TensorInfo; values: Float32Array } {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  return { info: be.makeTensorInfo(shape, "float32", values), values };
}
