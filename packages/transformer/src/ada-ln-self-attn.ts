/**
 * The VAR block: self-attention and FFN, each behind a LayerNorm whose scale
 * and shift, and a gate on the residual branch, come from the class
 * condition (adaptive LayerNorm), as `AdaLNSelfAttn` in the official
 * `models/basic_var.py` (FoundationVision/VAR):
 *
 *   γ1, γ2, s1, s2, b1, b2 = ada_lin(cond)            (or ada_gss + shared_ada_lin(cond))
 *   x = x + γ1 · Attn(LN(x)·(1+s1) + b1)
 *   x = x + γ2 · FFN(LN(x)·(1+s2) + b2)
 *
 * Notation: B batch, L tokens, C width, D condition width (= C).
 */

import { adaLNModulate, LayerNorm, Linear, Module, type Parameter, silu } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { FFN } from "./ffn.js";
import type { KVCache } from "./kv-cache.js";
import { SelfAttention } from "./self-attention.js";

/** `nn.Sequential(nn.SiLU(), nn.Linear(D, out))`: state-dict names `ada_lin.1.weight`, `ada_lin.1.bias`. */
export class AdaLin extends Module {
  readonly lin: Linear;
  constructor(condDim: number, outFeatures: number) {
    super();
    this.lin = this.child("1", new Linear(condDim, outFeatures));
  }
  /** (B, D) -> (B, out) */
  forward(cond: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.lin.forward(silu(cond)));
  }
}

export interface AdaLNSelfAttnOptions {
  blockIdx: number;
  embedDim: number;
  numHeads: number;
  mlpRatio: number;
  normEps: number;
  sharedAln: boolean;
  attnL2Norm: boolean;
}

export class AdaLNSelfAttn extends Module {
  readonly C: number;
  /** Shared AdaLN: this block's (1, 1, 6, C) offset added to `shared_ada_lin(cond)`. */
  readonly ada_gss: Parameter | null;
  readonly attn: SelfAttention;
  readonly ffn: FFN;
  readonly ln_wo_grad: LayerNorm;
  /** Per-block AdaLN (when not shared): SiLU → Linear D → 6C. */
  readonly ada_lin: AdaLin | null;

  constructor(readonly opts: AdaLNSelfAttnOptions) {
    super();
    const C = opts.embedDim;
    this.C = C;
    this.ada_gss = opts.sharedAln ? this.param("ada_gss", [1, 1, 6, C]) : null;
    this.attn = this.child("attn", new SelfAttention(opts.blockIdx, C, opts.numHeads, opts.attnL2Norm));
    this.ffn = this.child("ffn", new FFN(C, Math.round(C * opts.mlpRatio)));
    this.ln_wo_grad = this.child("ln_wo_grad", new LayerNorm(C, opts.normEps, false));
    this.ada_lin = opts.sharedAln ? null : this.child("ada_lin", new AdaLin(C, 6 * C));
  }

  /**
   * The six modulations (B, 1, 6, C) in the order γ1, γ2, s1, s2, b1, b2,
   * from the class embedding (B, D), or with shared AdaLN from
   * `shared_ada_lin(class embedding)` (B, 1, 6, C).
   */
  modulation(condOrGss: tf.Tensor): tf.Tensor4D {
    return tf.tidy(() =>
      this.ada_gss
        ? (tf.add(this.ada_gss.value, condOrGss) as tf.Tensor4D)
        : (tf.reshape(this.ada_lin!.forward(condOrGss), [-1, 1, 6, this.C]) as tf.Tensor4D),
    );
  }

  /**
   * (B, L, C) -> (B, L, C). `mod` from `modulation()`; `attnBias` is the
   * training mask (null at inference), `cache` the inference KV cache.
   * `dropPath` (training): per-sample multipliers (B, 1, 1) of the attention
   * and FFN branches (official `DropPath`: 0 for a dropped sample, 1/keep
   * for a kept one; null leaves a branch as it is).
   */
  forward(x: tf.Tensor3D, mod: tf.Tensor4D, attnBias: tf.Tensor | null, cache?: KVCache, dropPath?: readonly [tf.Tensor | null, tf.Tensor | null]): tf.Tensor3D {
    return tf.tidy(() => {
      // (B, 1, 6, C) -> 6 × (B, 1, C)
      const [gamma1, gamma2, scale1, scale2, shift1, shift2] = tf.unstack(mod, 2);
      const eps = this.ln_wo_grad.eps;
      const ln1 = adaLNModulate(x, scale1 as tf.Tensor3D, shift1 as tf.Tensor3D, eps); // LN(x)·(1+s1) + b1
      const drop = (branch: tf.Tensor, m: tf.Tensor | null | undefined) => (m ? tf.mul(branch, m) : branch);
      x = tf.add(x, drop(tf.mul(this.attn.forward(ln1 as tf.Tensor3D, attnBias, cache), gamma1), dropPath?.[0]));
      const ln2 = adaLNModulate(x as tf.Tensor3D, scale2 as tf.Tensor3D, shift2 as tf.Tensor3D, eps);
      return tf.add(x, drop(tf.mul(this.ffn.forward(ln2), gamma2), dropPath?.[1])) as tf.Tensor3D;
    });
  }
}
