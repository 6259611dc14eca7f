/**
 * Multi-head self-attention of a VAR block, as `SelfAttention` in the
 * official `models/basic_var.py` (FoundationVision/VAR) with its slow path
 * (`q·scale @ kᵀ + mask → softmax → @ v`).
 *
 * - `mat_qkv` has no bias of its own: the bias is cat(q_bias, zero_k_bias, v_bias).
 * - `attn_l2_norm` (every released model): q and k are L2-normalised per
 *   head, q is multiplied by exp(min(scale_mul_1H11, ln 100)) per head and
 *   the softmax scale is 1; otherwise the scale is 0.25/√(head dim).
 * - Training passes the block-causal additive mask; inference passes the KV
 *   cache instead and no mask (each scale attends to all cached scales and
 *   itself: core's fused `kvAttention`).
 *
 * Notation: B batch, L tokens of this call, Lk tokens attended to (cached + L),
 * C width, H heads, c = C/H head dim.
 */
import * as tf from "@tensorflow/tfjs-core";
import { kvAttention, Linear, Module, type Parameter } from "@nextscale/core";
import type { KVCache } from "./kv-cache.js";

export class SelfAttention extends Module {
  readonly headDim: number;
  /** Softmax temperature: 1 with L2-normalised q, k; else 0.25/√c. */
  readonly scale: number;
  /** Upper clamp of the learned log-scale (official: log 100). */
  readonly maxScaleMul = Math.log(100);
  readonly scale_mul_1H11: Parameter | null;
  readonly q_bias: Parameter;
  readonly v_bias: Parameter;
  readonly zero_k_bias: Parameter;
  readonly mat_qkv: Linear;
  readonly proj: Linear;

  constructor(
    readonly blockIdx: number,
    readonly embedDim: number,
    readonly numHeads: number,
    readonly attnL2Norm: boolean,
  ) {
    super();
    this.headDim = embedDim / numHeads;
    this.scale = attnL2Norm ? 1 : 0.25 / Math.sqrt(this.headDim);
    this.scale_mul_1H11 = attnL2Norm ? this.param("scale_mul_1H11", [1, numHeads, 1, 1]) : null;
    this.q_bias = this.param("q_bias", [embedDim]);
    this.v_bias = this.param("v_bias", [embedDim]);
    this.zero_k_bias = this.buffer("zero_k_bias", [embedDim]);
    this.mat_qkv = this.child("mat_qkv", new Linear(embedDim, 3 * embedDim, false));
    this.proj = this.child("proj", new Linear(embedDim, embedDim));
  }

  /**
   * (B, L, C) -> (B, L, C). Training: `attnBias` (1, 1, L, L) is the
   * additive block-causal mask. Inference: `attnBias` is null and `cache`
   * holds the keys and values of the earlier scales; this call's are
   * appended to it.
   */
  forward(x: tf.Tensor3D, attnBias: tf.Tensor | null, cache?: KVCache): tf.Tensor3D {
    if (attnBias && cache) throw new Error("SelfAttention: a training mask and a KV cache do not go together");
    return tf.tidy(() => {
      const [B, L, C] = x.shape;
      const H = this.numHeads;
      const c = this.headDim;
      const bias = tf.concat([this.q_bias.value, this.zero_k_bias.value, this.v_bias.value]);
      const qkv = tf.add(this.mat_qkv.forward(x), bias); // (B, L, 3C)
      // (B, L, C) -> (B, H, L, c)
      const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, L, H, c]), [0, 2, 1, 3]) as tf.Tensor4D;
      const [q0, k0, v0] = tf.split(qkv, 3, 2);
      let q = heads(q0);
      let k = heads(k0);
      let v = heads(v0);
      if (this.scale_mul_1H11) {
        const scaleMul = tf.exp(tf.minimum(this.scale_mul_1H11.value, this.maxScaleMul)); // (1, H, 1, 1)
        q = tf.mul(l2Normalize(q), scaleMul);
        k = l2Normalize(k);
      }
      let out: tf.Tensor4D; // (B, H, L, c)
      if (cache) {
        [k, v] = cache.append(this.blockIdx, k, v); // (B, H, Lk, c): every cached scale and this one
        out = kvAttention(q, k, v, this.scale);
      } else {
        let scores = tf.matMul(this.scale === 1 ? q : tf.mul(q, this.scale), k, false, true); // (B, H, L, L)
        if (attnBias) scores = tf.add(scores, attnBias);
        out = tf.matMul(tf.softmax(scores), v);
      }
      // (B, H, L, c) -> (B, L, C)
      return this.proj.forward(tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [B, L, C])) as tf.Tensor3D;
    });
  }
}

/**
 * `F.normalize(t, dim=-1)`: t / max(‖t‖₂, 1e-12). Under the gradient tape it
 * is one node (`l2NormalizeGrad`) with the same forward values; otherwise
 * plain ops.
 */
export function l2Normalize(t: tf.Tensor4D): tf.Tensor4D {
  return tf.engine().isTapeOn() ? l2NormalizeGrad(t) : l2NormalizePlain(t).y;
}

const L2_EPS = 1e-12;

/** The plain-ops forward of `l2Normalize`, with the per-row denominator n = max(‖t‖, 1e-12) (…, 1). */
function l2NormalizePlain(t: tf.Tensor4D): { y: tf.Tensor4D; n: tf.Tensor } {
  const n = tf.maximum(tf.sqrt(tf.sum(tf.square(t), -1, true)), L2_EPS);
  return { y: tf.div(t, n), n };
}

/**
 * `l2Normalize` as one tape node: the plain forward, keeping only y and n
 * (one number per row) instead of t twice, t², ‖t‖²:
 * dt = (g − y·Σ(g·y))/n where ‖t‖ > 1e-12, else g/1e-12: the max sends its
 * gradient to the branch it chose, as PyTorch's clamp_min (an exact tie at
 * 1e-12, which clamp_min and tfjs' Maximum give to ‖t‖, is taken as constant).
 */
const l2NormalizeGrad = tf.customGrad((t, save) => {
  const { y, n } = l2NormalizePlain(t as tf.Tensor4D);
  (save as tf.GradSaveFunc)([y, n]);
  return {
    value: y,
    gradFunc: (dy, [yS, nS]) => {
      const g = dy as tf.Tensor;
      const normed = tf.cast(tf.greater(nS, L2_EPS), "float32"); // n > 1e-12 ⇔ ‖t‖ > 1e-12 (n = 1e-12 otherwise)
      const proj = tf.mul(yS, tf.mul(tf.sum(tf.mul(g, yS), -1, true), normed));
      return tf.div(tf.sub(g, proj), nS);
    },
  };
}) as (t: tf.Tensor4D) => tf.Tensor4D;
