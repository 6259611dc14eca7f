/**
 * Forward passes that free their intermediates, so they can read like the
 * equations. Python frees an activation when its last reference goes; a
 * tfjs tensor lives until it is disposed, and inside one `tf.tidy` every
 * intermediate of a 256×256 decoder lives until the scope ends (gigabytes).
 * `sequential` and `residual` free each intermediate as soon as the next step
 * has used it, unless a gradient tape is recording (the tape keeps what
 * backpropagation needs; the enclosing scope frees the rest).
 */
import * as tf from "@tensorflow/tfjs-core";

/** One step of a forward pass: a layer, or a function of one tensor. */
export type Step<T extends tf.Tensor = tf.Tensor> = { forward(x: T): T } | ((x: T) => T);

/** Whether a gradient tape is recording (its tensors must then live until backprop). */
export function isRecordingGradients(): boolean {
  return ((tf.engine().state as { gradientDepth?: number }).gradientDepth ?? 0) > 0;
}

const apply = <T extends tf.Tensor>(step: Step<T>, x: T): T => (typeof step === "function" ? step(x) : step.forward(x));

/**
 * The steps applied in turn to `x` (`nn.Sequential`); absent steps (null,
 * undefined: an optional layer) are skipped. Each intermediate is freed once
 * the next step has returned; `x` is never freed.
 */
export function sequential<T extends tf.Tensor>(x: T, ...steps: (Step<T> | null | undefined)[]): T {
  const free = !isRecordingGradients();
  let h = x;
  for (const step of steps) {
    if (!step) continue;
    const next = apply(step, h);
    if (free && h !== x && next !== h) h.dispose();
    h = next;
  }
  return h;
}

/** A residual connection: shortcut(x) + branch(x) (shortcut: identity when absent), both terms freed after the sum. */
export function residual<T extends tf.Tensor>(x: T, branch: Step<T>, shortcut?: Step<T> | null): T {
  const h = apply(branch, x);
  const s = shortcut ? apply(shortcut, x) : x;
  const y = tf.add(s, h) as T;
  if (!isRecordingGradients()) {
    if (h !== x) h.dispose();
    if (s !== x) s.dispose();
  }
  return y;
}
