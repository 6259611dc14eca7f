/**
 * Element-wise kernels: binary ops with numpy broadcasting (per-dimension
 * strides, 0 where an operand is broadcast) and unary ops, float32 only,
 * one loop per op in C++ that the compiler vectorises, split over the pool.
 */
import * as tf from "@tensorflow/tfjs-core";
import { BINARY_OPS, UNARY_OPS } from "../device.js";
import { coalesce, f32s, type NativeKernel, output } from "./util.js";

/** Element strides of `shape` aligned right to `out` (0 where it is broadcast). */
function stridesIn(shape: number[], out: number[]): Int32Array {
  const s = new Int32Array(out.length);
  let stride = 1;
  for (let d = out.length - 1, e = shape.length - 1; d >= 0; d--, e--) {
    const n = e >= 0 ? shape[e] : 1;
    s[d] = n === 1 ? 0 : stride;
    stride *= n;
  }
  return s;
}

const binary = (name: keyof typeof BINARY_OPS): NativeKernel => ({
  kernelName: name,
  run({ inputs, backend }, device) {
    const { a, b } = inputs;
    const v = f32s(backend, a, b);
    if (!v) return null;
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = output(backend, shape);
    if (!out.values.length) return out.info;
    const c = coalesce(shape, [stridesIn(a.shape, shape), stridesIn(b.shape, shape)]); // a rank-0 result runs as shape [1]
    device.binary(BINARY_OPS[name], v[0], v[1], out.values, c.shape, c.strides[0], c.strides[1]);
    return out.info;
  },
});

const unary = (name: keyof typeof UNARY_OPS): NativeKernel => ({
  kernelName: name,
  run({ inputs, backend }, device) {
    const v = f32s(backend, inputs.x);
    if (!v) return null;
    const out = output(backend, inputs.x.shape);
    if (out.values.length) device.unary(UNARY_OPS[name], v[0], out.values);
    return out.info;
  },
});

export const BINARY_KERNELS = (Object.keys(BINARY_OPS) as (keyof typeof BINARY_OPS)[]).map(binary);
export const UNARY_KERNELS = (Object.keys(UNARY_OPS) as (keyof typeof UNARY_OPS)[]).map(unary);
