/**
 * Gradient-norm clipping as `torch.nn.utils.clip_grad_norm_` (norm type 2):
 * the total norm is the 2-norm of the per-tensor 2-norms, the clip
 * coefficient maxNorm / (total + 1e-6) is clamped to at most 1 and every
 * gradient is multiplied by it (also when it is 1, as torch does), all in
 * float32 on the active backend. Gradients that are absent are skipped.
 */
import * as tf from "@tensorflow/tfjs-core";

export interface ClipResult<K extends string = string> {
  /** The clipped gradients (new tensors: the caller disposes them and still owns the inputs). */
  grads: Record<K, tf.Tensor>;
  /** The total norm before clipping (what clip_grad_norm_ returns); the caller disposes it. */
  totalNorm: tf.Scalar;
}

/**
 * clip_grad_norm_'s total norm and clip coefficient min(maxNorm / (total + 1e-6), 1)
 * without scaling the gradients (a fused optimizer step applies it); the caller disposes both.
 */
export function clipCoefficient(grads: readonly tf.Tensor[], maxNorm: number): { coef: tf.Scalar; totalNorm: tf.Scalar } {
  return tf.tidy(() => {
    if (grads.length === 0) return { coef: tf.scalar(1), totalNorm: tf.scalar(0) };
    const norms = grads.map((g) => tf.sqrt(tf.sum(tf.square(g))));
    const totalNorm = tf.sqrt(tf.sum(tf.square(tf.stack(norms)))) as tf.Scalar;
    const coef = tf.minimum(tf.div(tf.scalar(maxNorm), tf.add(totalNorm, tf.scalar(1e-6))), tf.scalar(1)) as tf.Scalar;
    return { coef, totalNorm };
  });
}

/** Clip gradients to a total 2-norm of `maxNorm` as `torch.nn.utils.clip_grad_norm_`. */
export function clipGradNorm<K extends string>(grads: Record<K, tf.Tensor | undefined | null>, maxNorm: number): ClipResult<K> {
  const keys = (Object.keys(grads) as K[]).filter((k) => grads[k]);
  return tf.tidy(() => {
    if (keys.length === 0) return { grads: {} as Record<K, tf.Tensor>, totalNorm: tf.scalar(0) };
    const { coef, totalNorm } = clipCoefficient(
      keys.map((k) => grads[k]!),
      maxNorm,
    );
    const out = {} as Record<K, tf.Tensor>;
    for (const k of keys) out[k] = tf.mul(grads[k]!, coef);
    return { grads: out, totalNorm };
  });
}
