/**
 * The VAR training loss, as `VARTrainer.train_step` in the official
 * `trainer.py` (FoundationVision/VAR): per-token cross-entropy with label
 * smoothing (`nn.CrossEntropyLoss(label_smoothing=ε, reduction='none')`),
 * each token weighted 1/L, summed over tokens, averaged over the batch.
 *
 * With label smoothing the target puts 1−ε on the true index and ε/V on
 * every index, so per token: (1−ε)·(−log p_y) + ε·mean_v(−log p_v).
 *
 * Differentiate it with `tf.variableGrads`: this module registers core's
 * gradients for the kernels the model uses (tfjs-core alone has none in Node).
 *
 * Notation: B batch, L tokens, V vocabulary.
 */
import * as tf from "@tensorflow/tfjs-core";
import { registerGradients } from "@nextscale/core";
import { readSync } from "./var-transformer.js";

registerGradients();

export interface VarLossOptions {
  /** ε of the smoothed target (the reference bundles use 0.1; official `--ls`). */
  labelSmoothing?: number;
}

/**
 * Scalar loss from logits (B, L, V) and the target token indices (B, L)
 * (the scales' indices concatenated), as numbers (row-major) or a tensor;
 * indices are range-checked on the host, so on webgpu in Node pass numbers.
 */
export function varLoss(logitsBLV: tf.Tensor, targetsBL: tf.Tensor | ArrayLike<number>, opts: VarLossOptions = {}): tf.Scalar {
  const eps = opts.labelSmoothing ?? 0.1;
  if (!(eps >= 0 && eps <= 1)) throw new RangeError(`labelSmoothing must be in [0, 1], got ${eps}`);
  if (logitsBLV.rank !== 3) throw new Error(`logits must have shape (B, L, V), got [${logitsBLV.shape}]`);
  const [B, L, V] = logitsBLV.shape;
  const isTensor = targetsBL instanceof tf.Tensor;
  const shape = isTensor ? targetsBL.shape : [targetsBL.length];
  if (isTensor ? !tf.util.arraysEqual(shape, [B, L]) : shape[0] !== B * L) {
    throw new Error(`targets must have shape (B, L) = [${B},${L}] (or B·L numbers), got [${shape}]`);
  }
  const t = isTensor ? readSync(targetsBL, "targets") : targetsBL;
  for (let i = 0; i < t.length; i++) {
    if (!(Number.isInteger(t[i]) && t[i] >= 0 && t[i] < V)) throw new RangeError(`target index ${t[i]} out of range [0, ${V})`);
  }
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logitsBLV); // (B, L, V)
    const idx = tf.tensor(Int32Array.from(t), [B, L], "int32");
    const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(idx, V)), -1)); // (B, L)
    const perToken = eps > 0 ? tf.add(tf.mul(1 - eps, nll), tf.mul(eps, tf.neg(tf.mean(logp, -1)))) : nll;
    return tf.mean(tf.sum(tf.mul(perToken, 1 / L), -1)) as tf.Scalar;
  });
}
