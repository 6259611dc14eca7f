/**
 * `kvAttention`: softmax(scale · q·kᵀ) · v for one scale's queries over the
 * cached keys and values (KV-cache inference in the official
 * models/basic_var.py `SelfAttention`: scale k attends to every cached token
 * of scales < k and to itself, so no mask). With `attn_l2_norm` the caller
 * has already normalised q, k and multiplied q by the per-head scale, and
 * passes scale = 1. Notation: B batch, H heads, Lq queries, Lk cached
 * tokens, c head width.
 */
import * as tf from "@tensorflow/tfjs-core";
import { KVAttention, type KVAttentionAttrs } from "@nextscale/contract";
import { fusedOp } from "./fused-op.js";

/** The plain-ops version. */
export function kvAttentionFallback(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  return tf.tidy(() => {
    const s = tf.matMul(scale === 1 ? q : tf.mul(q, scale), k, false, true); // (B, H, Lq, Lk)
    return tf.matMul(tf.softmax(s), v); // (B, H, Lq, c)
  });
}

const grad: tf.GradConfig = {
  kernelName: KVAttention,
  inputsToSave: ["q", "k", "v"],
  gradFunc: (dy, [q, k, v], attrs) => {
    const dO = dy as tf.Tensor;
    const scale = (attrs as unknown as KVAttentionAttrs).scale;
    const p = tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale)); // (B, H, Lq, Lk)
    const dP = tf.matMul(dO, v, false, true);
    const dS = tf.mul(p, tf.sub(dP, tf.sum(tf.mul(dP, p), -1, true))); // softmax backward
    return {
      q: () => tf.mul(tf.matMul(dS, k), scale),
      k: () => tf.mul(tf.matMul(dS, q, true, false), scale),
      v: () => tf.matMul(p, dO, true, false),
    };
  },
};

/** q (B, H, Lq, c), k and v (B, H, Lk, c) -> (B, H, Lq, c). */
export function kvAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  const [B, H, , c] = q.shape;
  const ok = (t: tf.Tensor) => t.rank === 4 && t.shape[0] === B && t.shape[1] === H && t.shape[3] === c;
  if (q.rank !== 4 || !ok(k) || !ok(v) || k.shape[2] !== v.shape[2]) {
    throw new Error(
      `kvAttention: expected q (B, H, Lq, c), k and v (B, H, Lk, c); got [${q.shape}], [${k.shape}], [${v.shape}]`,
    );
  }
  return fusedOp<tf.Tensor4D, KVAttentionAttrs>(grad, { q, k, v }, { scale }, () => kvAttentionFallback(q, k, v, scale));
}
