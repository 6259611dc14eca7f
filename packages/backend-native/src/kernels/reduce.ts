/**
 * Softmax over the last axis, and Sum/Mean/Max/Min over any axes: reduced
 * axes that are leading (a bias gradient's sum over the batch) reduce as
 * columns in place; others that are not innermost (GroupNorm's statistics)
 * are first moved innermost by one strided copy on the device, as
 * tfjs-backend-cpu does in JavaScript.
 */
import * as tf from "@tensorflow/tfjs-core";
import { REDUCE_OPS } from "../device.js";
import { coalesce, f32s, type NativeKernel, output, stridesOf } from "./util.js";

export const softmax: NativeKernel = {
  kernelName: "Softmax",
  run({ inputs, backend, attrs }, device) {
    const { logits } = inputs;
    const v = f32s(backend, logits);
    const rank = logits.shape.length;
    const dim = (attrs as { dim: number }).dim;
    if (!v || rank === 0 || (dim !== -1 && dim !== rank - 1)) return null;
    const n = logits.shape[rank - 1];
    const out = output(backend, logits.shape);
    if (out.values.length) device.softmax(v[0], out.values, out.values.length / n, n);
    return out.info;
  },
};

const reduction = (name: keyof typeof REDUCE_OPS): NativeKernel => ({
  kernelName: name,
  run({ inputs, backend, attrs }, device) {
    const { x } = inputs;
    const v = f32s(backend, x);
    if (!v || x.shape.length === 0) return null;
    const a = attrs as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam((name === "Max" ? a.reductionIndices : a.axis) ?? a.axis!, x.shape);
    const [outShape, reduceShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    const inner = tf.util.sizeFromShape(reduceShape);
    if (inner === 0) return null; // tfjs's identities (0, NaN, -Infinity) for empty reductions
    const shape = a.keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
    const out = output(backend, shape);
    if (!out.values.length) return out.info;
    let values = v[0];
    const rank = x.shape.length;
    const sorted = [...axes].sort((p, q) => p - q);
    if (device.reduceOuter && sorted.every((d, i) => d === i) && axes.length < rank) {
      // leading axes (a bias gradient's sum over the batch and the tokens): a column reduction, no copy
      device.reduceOuter(REDUCE_OPS[name], values, out.values, inner, out.values.length);
      return out.info;
    }
    if (!tf.backend_util.axesAreInnerMostDims(axes, x.shape.length)) {
      const perm = [...Array(rank).keys()].filter((d) => !axes.includes(d)).concat([...axes].sort((p, q) => p - q));
      const xs = stridesOf(x.shape);
      values = new Float32Array(values.length);
      const c = coalesce(
        perm.map((p) => x.shape[p]),
        [perm.map((p) => xs[p])],
      );
      device.stridedCopy(v[0], values, c.shape, c.strides[0]);
    }
    device.reduce(REDUCE_OPS[name], values, out.values, out.values.length, inner);
    return out.info;
  },
});

export const REDUCE_KERNELS = (Object.keys(REDUCE_OPS) as (keyof typeof REDUCE_OPS)[]).map(reduction);
