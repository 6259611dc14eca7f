/**
 * Gradient accumulation: one optimizer step over a batch taken as K
 * micro-batches, so that a batch too large for memory trains as it would in
 * one piece. Each micro-batch's loss is a mean over its items, so the whole
 * batch's gradient is Σ (nᵢ / B) · ∇ loss_i; the micro-batches' gradients
 * are summed into one tensor per variable as they come and the tape of
 * each is freed before the next runs (peak memory ≈ one micro-batch's
 * tape). With K = 1 nothing is scaled: the step is exactly the plain one.
 */
import * as tf from "@tensorflow/tfjs-core";

/** Split B items into `parts` contiguous micro-batches of near-equal sizes: [start, end) pairs. */
export function microBatches(batch: number, parts: number): [number, number][] {
  if (!(Number.isInteger(parts) && parts >= 1)) throw new Error(`accum must be a positive integer (got ${parts})`);
  if (parts > batch) throw new Error(`accum ${parts} is more than the batch's ${batch} items`);
  const out: [number, number][] = [];
  for (let k = 0; k < parts; k++) out.push([Math.floor((k * batch) / parts), Math.floor(((k + 1) * batch) / parts)]);
  return out;
}

/**
 * Run `part(k, start, end)` for each micro-batch (it returns
 * `tf.variableGrads`' result for items [start, end)) and return the
 * weighted sum of the gradients and of the loss values. The caller disposes
 * the result.
 */
export function accumulateGrads(
  batch: number,
  parts: number,
  part: (k: number, start: number, end: number) => { value: tf.Scalar; grads: tf.NamedTensorMap },
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const ranges = microBatches(batch, parts);
  if (ranges.length === 1) return part(0, 0, batch);
  let value: tf.Scalar | undefined;
  let grads: tf.NamedTensorMap | undefined;
  ranges.forEach(([s, e], k) => {
    const r = part(k, s, e);
    const w = (e - s) / batch;
    const next = tf.tidy(() => {
      const v = tf.mul(r.value, w) as tf.Scalar;
      const g: tf.NamedTensorMap = {};
      for (const [name, t] of Object.entries(r.grads)) g[name] = grads ? tf.add(grads[name], tf.mul(t, w)) : tf.mul(t, w);
      return { v: value ? (tf.add(value, v) as tf.Scalar) : v, g };
    });
    tf.dispose([r.value, ...Object.values(r.grads), ...(value ? [value] : []), ...(grads ? Object.values(grads) : [])]);
    value = next.v;
    grads = next.g;
  });
  return { value: value as tf.Scalar, grads: grads as tf.NamedTensorMap };
}
