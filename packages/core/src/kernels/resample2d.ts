/**
 * `resample2d`: Y = Mh · X · Mwᵀ per image and channel, the exact form of
 * every `F.interpolate` the VAR models use (area, bicubic, bilinear,
 * nearest; the matrices come from `resampleMatrix`, see ../resample.ts).
 * Notation: B batch, H×W in, h×w out, C channels (NHWC).
 */
import * as tf from "@tensorflow/tfjs-core";
import { Resample2d } from "@nextscale/contract";
import { fusedOp } from "./fused-op.js";

/** The plain-ops version: two batched matrix products. */
export function resample2dFallback(x: tf.Tensor4D, mh: tf.Tensor2D, mw: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const [h, w] = [mh.shape[0], mw.shape[0]];
    // rows: (h, H) @ (B, H, W·C) -> (B, h, W·C)
    const rows = tf.matMul(tf.broadcastTo(mh, [B, h, H]), tf.reshape(x, [B, H, W * C]));
    // columns: (w, W) @ (B·h, W, C) -> (B·h, w, C)
    const cols = tf.matMul(tf.broadcastTo(mw, [B * h, w, W]), tf.reshape(rows, [B * h, W, C]));
    return tf.reshape(cols, [B, h, w, C]);
  });
}

const grad: tf.GradConfig = {
  kernelName: Resample2d,
  inputsToSave: ["mh", "mw"],
  gradFunc: (dy, [mh, mw]) => ({
    // the map is linear in x: dX = Mhᵀ · dY · Mw
    x: () => resample2d(dy as tf.Tensor4D, tf.transpose(mh) as tf.Tensor2D, tf.transpose(mw) as tf.Tensor2D),
    mh: () => {
      throw new Error("resample2d: the resampling matrices are constants (no gradient)");
    },
    mw: () => {
      throw new Error("resample2d: the resampling matrices are constants (no gradient)");
    },
  }),
};

/** (B, H, W, C), (h, H), (w, W) -> (B, h, w, C). */
export function resample2d(x: tf.Tensor4D, mh: tf.Tensor2D, mw: tf.Tensor2D): tf.Tensor4D {
  if (x.rank !== 4 || mh.rank !== 2 || mw.rank !== 2 || mh.shape[1] !== x.shape[1] || mw.shape[1] !== x.shape[2]) {
    throw new Error(`resample2d: expected x (B, H, W, C), mh (h, H), mw (w, W); got ${fmt(x)}, ${fmt(mh)}, ${fmt(mw)}`);
  }
  return fusedOp(grad, { x, mh, mw }, {}, () => resample2dFallback(x, mh, mw));
}

const fmt = (t: tf.Tensor) => `[${t.shape.join(", ")}]`;
