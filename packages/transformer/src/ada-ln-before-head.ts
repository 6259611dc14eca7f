/**
 * The adaptive LayerNorm before the classifier head: LN(x)·(1+scale) + shift
 * with (scale, shift) = ada_lin(class embedding), as `AdaLNBeforeHead` in
 * the official `models/basic_var.py` (FoundationVision/VAR).
 *
 * Notation: B batch, L tokens, C width, D condition width.
 */
import * as tf from "@tensorflow/tfjs-core";
import { adaLNModulate, LayerNorm, Module } from "@nextscale/core";
import { AdaLin } from "./ada-ln-self-attn.js";

export class AdaLNBeforeHead extends Module {
  readonly ln_wo_grad: LayerNorm;
  readonly ada_lin: AdaLin;
  constructor(
    readonly C: number,
    condDim: number,
    normEps: number,
  ) {
    super();
    this.ln_wo_grad = this.child("ln_wo_grad", new LayerNorm(C, normEps, false));
    this.ada_lin = this.child("ada_lin", new AdaLin(condDim, 2 * C));
  }

  /** Scale and shift (B, 1, 2, C) from the class embedding (B, D). */
  modulation(cond: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => tf.reshape(this.ada_lin.forward(cond), [-1, 1, 2, this.C]) as tf.Tensor4D);
  }

  /** (B, L, C) -> (B, L, C), `mod` from `modulation()`. */
  forward(x: tf.Tensor3D, mod: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const [scale, shift] = tf.unstack(mod, 2); // 2 × (B, 1, C)
      return adaLNModulate(x, scale as tf.Tensor3D, shift as tf.Tensor3D, this.ln_wo_grad.eps);
    });
  }
}
