/**
 * Data movement: Transpose, Slice, SplitV and Unpack as one strided copy on
 * the device (tfjs-backend-cpu walks them element by element with index
 * arithmetic: SplitV of attention's fused qkv took 90 ms a call at d16);
 * Concat and PadV2 as contiguous block copies (the convolutions' padding
 * and the VQ-VAE's per-scale concatenations in training).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Device } from "../device.js";
import type { NativeBackend } from "../backend.js";
import { coalesce, f32s, type NativeKernel, output, stridesOf } from "./util.js";


/** A new tensor of `shape` copied from x's values at `offset` with element strides `strides`. */
function copy(be: NativeBackend, device: Device, x: Float32Array, offset: number, shape: number[], strides: number[]): tf.TensorInfo {
  const out = output(be, shape);
  if (!out.values.length) return out.info;
  const c = coalesce(shape, [strides]);
  device.stridedCopy(x.subarray(offset), out.values, c.shape, c.strides[0]);
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

/** out (outer, sum of the inputs' rows) = the inputs' (outer, rows_i) blocks side by side. */
export const concat: NativeKernel = {
  kernelName: "Concat",
  run({ inputs, backend, attrs }) {
    const xs = Object.values(inputs);
    if (!xs.length) return null;
    const vs = f32s(backend, ...xs);
    if (!vs) return null;
    const axis = tf.util.parseAxisParam((attrs as { axis: number }).axis, xs[0].shape)[0];
    const shape = tf.backend_util.computeOutShape(
      xs.map((x) => x.shape),
      axis,
    );
    const out = output(backend, shape);
    const outer = tf.util.sizeFromShape(shape.slice(0, axis));
    const row = tf.util.sizeFromShape(shape.slice(axis));
    let at = 0;
    xs.forEach((x, i) => {
      const n = tf.util.sizeFromShape(x.shape.slice(axis));
      const v = vs[i];
      for (let o = 0; o < outer; o++) out.values.set(v.subarray(o * n, (o + 1) * n), o * row + at);
      at += n;
    });
    return out.info;
  },
};

/** The constant everywhere, then x's rows copied into place (a row: x's trailing dimensions that are not padded). */
export const padV2: NativeKernel = {
  kernelName: "PadV2",
  run({ inputs, backend, attrs }) {
    const v = f32s(backend, inputs.x);
    if (!v) return null;
    const { paddings, constantValue } = attrs as { paddings: [number, number][]; constantValue: number };
    const xShape = inputs.x.shape;
    const rank = xShape.length;
    const shape = xShape.map((n, d) => paddings[d][0] + n + paddings[d][1]);
    const out = output(backend, shape);
    out.values.fill(constantValue); // the output may hold stale values (the pool)
    if (!v[0].length) return out.info;
    let k = rank; // dims k… are not padded: copied as one block
    while (k > 0 && paddings[k - 1][0] === 0 && paddings[k - 1][1] === 0) k--;
    if (k === 0) {
      out.values.set(v[0]);
      return out.info;
    }
    // rows of x: its dims 0…k−1 (the last of them included in the row), the row length xShape[k−1]·block
    const block = tf.util.sizeFromShape(xShape.slice(k));
    const rowLen = xShape[k - 1] * block;
    const os = stridesOf(shape);
    const idx = new Array<number>(k - 1).fill(0);
    const rows = tf.util.sizeFromShape(xShape.slice(0, k - 1));
    const base = paddings.reduce((o, p, d) => o + p[0] * os[d], 0);
    for (let r = 0; r < rows; r++) {
      let o = base;
      for (let d = 0; d < k - 1; d++) o += idx[d] * os[d];
      out.values.set(v[0].subarray(r * rowLen, (r + 1) * rowLen), o);
      for (let d = k - 2; d >= 0 && ++idx[d] === xShape[d]; d--) idx[d] = 0;
    }
    return out.info;
  },
};

export const LAYOUT_KERNELS = [transpose, slice, splitV, unpack, concat, padV2];
