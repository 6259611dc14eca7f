/**
 * UnsortedSegmentSum: the gradient of a gather (the VQ-VAE's codebook
 * lookup in training). tfjs-backend-cpu builds it from one mask, multiply
 * and sum per segment (numSegments full passes over x: 0.5 s a call for a
 * 512-entry codebook); here one pass adds each row into its segment. Ids
 * outside [0, numSegments) are dropped, as in tfjs.
 */
import * as tf from "@tensorflow/tfjs-core";
import { f32, type NativeKernel, output } from "./util.js";

export const unsortedSegmentSum: NativeKernel = {
  kernelName: "UnsortedSegmentSum",
  run({ inputs, backend, attrs }) {
    const { x, segmentIds } = inputs;
    const v = f32(backend, x);
    const ids = backend.data.get(segmentIds.dataId)?.values;
    if (!v || !(ids instanceof Int32Array)) return null;
    const { numSegments } = attrs as { numSegments: number };
    const inner = tf.util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
    const out = output(backend, [numSegments, ...x.shape.slice(segmentIds.shape.length)], true); // sums: from zero
    const y = out.values;
    for (let r = 0; r < ids.length; r++) {
      const s = ids[r];
      if (s < 0 || s >= numSegments) continue;
      const o = s * inner;
      const i = r * inner;
      for (let j = 0; j < inner; j++) y[o + j] += v[i + j];
    }
    return out.info;
  },
};
