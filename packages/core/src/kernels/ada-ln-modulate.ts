/**
 * `adaLNModulate`: LN(x)·(1 + scale) + shift, the adaptive LayerNorm of every
 * VAR block and of the head (`AdaLNSelfAttn`, `AdaLNBeforeHead` in the
 * official models/basic_var.py). LN has no affine weights; scale and shift
 * come from the class condition, one row per image, broadcast over tokens.
 * Notation: B batch, L tokens, C channels.
 */
import * as tf from "@tensorflow/tfjs-core";
import { AdaLNModulate, type AdaLNModulateAttrs } from "@nextscale/contract";
import { fusedOp } from "./fused-op.js";

/** The plain-ops version. */
export function adaLNModulateFallback(x: tf.Tensor3D, scale: tf.Tensor3D, shift: tf.Tensor3D, eps: number): tf.Tensor3D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true); // (B, L, 1)
    const n = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(n, tf.add(scale, 1)), shift);
  });
}

const grad: tf.GradConfig = {
  kernelName: AdaLNModulate,
  inputsToSave: ["x", "scale"],
  gradFunc: (dy, [x, scale], attrs) => {
    const g = dy as tf.Tensor;
    // n = (x - μ)/σ; y = n·(1 + s) + b
    const { mean, variance } = tf.moments(x, -1, true);
    const rstd = tf.rsqrt(tf.add(variance, (attrs as unknown as AdaLNModulateAttrs).eps));
    const n = tf.mul(tf.sub(x, mean), rstd);
    return {
      x: () => {
        const gn = tf.mul(g, tf.add(scale, 1)); // dL/dn
        const centred = tf.sub(gn, tf.mean(gn, -1, true));
        return tf.mul(tf.sub(centred, tf.mul(n, tf.mean(tf.mul(gn, n), -1, true))), rstd);
      },
      scale: () => tf.sum(tf.mul(g, n), 1, true),
      shift: () => tf.sum(g, 1, true),
    };
  },
};

/** x (B, L, C), scale and shift (B, 1, C) -> (B, L, C). */
export function adaLNModulate(x: tf.Tensor3D, scale: tf.Tensor3D, shift: tf.Tensor3D, eps = 1e-6): tf.Tensor3D {
  const [B, , C] = x.shape;
  const ok = (t: tf.Tensor) => t.rank === 3 && t.shape[0] === B && t.shape[1] === 1 && t.shape[2] === C;
  if (x.rank !== 3 || !ok(scale) || !ok(shift)) {
    throw new Error(
      `adaLNModulate: expected x (B, L, C), scale and shift (B, 1, C); got [${x.shape}], [${scale.shape}], [${shift.shape}]`,
    );
  }
  return fusedOp<tf.Tensor3D, AdaLNModulateAttrs>(grad, { x, scale, shift }, { eps }, () => adaLNModulateFallback(x, scale, shift, eps));
}
