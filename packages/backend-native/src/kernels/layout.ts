/**
 * Data movement: Transpose, Slice, SplitV and Unpack as one strided copy on
 * the device (tfjs-backend-cpu walks them element by element with index
 * arithmetic: SplitV of attention's fused qkv took 90 ms a call at d16).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Device } from "../device.js";
import type { NativeBackend } from "../backend.js";
import { f32s, type NativeKernel, output } from "./util.js";

const stridesOf = (shape: number[]) => {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, n = 1; d >= 0; n *= shape[d], d--) s[d] = n;
  return s;
};

/** A new tensor of `shape` copied from x's values at `offset` with element strides `strides`. */
function copy(be: NativeBackend, device: Device, x: Float32Array, offset: number, shape: number[], strides: number[]): tf.TensorInfo {
  const out = output(be, shape);
  if (!out.values.length) return out.info;
  const s = shape.length ? shape : [1];
  device.stridedCopy(x.subarray(offset), out.values, Int32Array.from(s), Int32Array.from(shape.length ? strides : [1]));
  return out.info;
}

export const transpose: NativeKernel = {
  kernelName: "Transpose",
  run({ inputs, backend, attrs }, device) {
    const v = f32s(backend, inputs.x);
    if (!v) return null;
    const { perm } = attrs as { perm: number[] };
    const xs = stridesOf(inputs.x.shape);
    return copy(backend, device, v[0], 0, perm.map((p) => inputs.x.shape[p]), perm.map((p) => xs[p]));
  },
};

export const slice: NativeKernel = {
  kernelName: "Slice",
  run({ inputs, backend, attrs }, device) {
    const v = f32s(backend, inputs.x);
    if (!v) return null;
    const { begin, size } = attrs as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(inputs.x as tf.Tensor, begin, size);
    const xs = stridesOf(inputs.x.shape);
    return copy(backend, device, v[0], b.reduce((o, bi, d) => o + bi * xs[d], 0), s, xs);
  },
};

/** Parts of x along `axis`, each `sizes[i]` long. */
function split(be: NativeBackend, device: Device, x: tf.TensorInfo, values: Float32Array, sizes: number[], axis: number, drop: boolean): tf.TensorInfo[] {
  const xs = stridesOf(x.shape);
  let start = 0;
  return sizes.map((n) => {
    const shape = x.shape.slice();
    shape[axis] = n;
    const strides = xs.slice();
    if (drop) {
      shape.splice(axis, 1);
      strides.splice(axis, 1);
    }
    const out = copy(be, device, values, start * xs[axis], shape, strides);
    start += n;
    return out;
  });
}

export const splitV: NativeKernel = {
  kernelName: "SplitV",
  run({ inputs, backend, attrs }, device) {
    const v = f32s(backend, inputs.x);
    if (!v) return null;
    const { numOrSizeSplits, axis } = attrs as { numOrSizeSplits: number | number[]; axis: number };
    const a = tf.util.parseAxisParam(axis, inputs.x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(inputs.x as tf.Tensor, numOrSizeSplits, a);
    return split(backend, device, inputs.x, v[0], sizes, a, false);
  },
};

export const unpack: NativeKernel = {
  kernelName: "Unpack",
  run({ inputs, backend, attrs }, device) {
    const v = f32s(backend, inputs.value);
    if (!v) return null;
    const rank = inputs.value.shape.length;
    const a = ((attrs as { axis: number }).axis + rank) % rank;
    return split(backend, device, inputs.value, v[0], new Array(inputs.value.shape[a]).fill(1), a, true);
  },
};

export const LAYOUT_KERNELS = [transpose, slice, splitV, unpack];
