/**
 * The feed-forward network of a VAR block: fc1 → GELU (tanh approximation)
 * → fc2, as `FFN` in the official `models/basic_var.py` (FoundationVision/VAR),
 * without the fused kernel or dropout.
 */
import * as tf from "@tensorflow/tfjs-core";
import { geluTanh, Linear, Module } from "@nextscale/core";

export class FFN extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(inFeatures: number, hiddenFeatures: number) {
    super();
    this.fc1 = this.child("fc1", new Linear(inFeatures, hiddenFeatures));
    this.fc2 = this.child("fc2", new Linear(hiddenFeatures, inFeatures));
  }
  /** (..., C) -> (..., C) */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(geluTanh(this.fc1.forward(x))));
  }
}
