/** Helpers of the hand-written-gradient tests (core, transformer): seeded inputs, error against a scale, the gradient tape's saved bytes. */
import * as tf from "@tensorflow/tfjs-core";

/** A seeded, deterministic Float32Array in [lo, hi) (hash of index and seed). */
export function randValues(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 7, 0x85ebca77)) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x2c1b3c6d) >>> 0;
    x ^= x >>> 12;
    v[i] = lo + ((x >>> 0) / 2 ** 32) * (hi - lo);
  }
  return v;
}

/** max |a − b| and the scale max |b|. */
export function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): { err: number; scale: number } {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { err, scale };
}

/** The unique bytes of the buffers the gradient tape keeps (saved tensors, deduplicated by data id), leaving out `existing` ones. */
export function tapeSavedBytes(existing: tf.Tensor[]): number {
  const skip = new Set<object>(existing.map((t) => t.dataId));
  const seen = new Set<object>();
  let bytes = 0;
  // biome-ignore lint/suspicious/noExplicitAny: the engine's tape is internal
  for (const node of ((tf.engine().state as any).activeTape ?? []) as { saved?: tf.Tensor[] }[]) {
    for (const t of node.saved ?? []) {
      if (skip.has(t.dataId) || seen.has(t.dataId)) continue;
      seen.add(t.dataId);
      bytes += t.size * 4;
    }
  }
  return bytes;
}
