/**
 * The PyTorch layers the VAR models use, with PyTorch's parameter names
 * and shapes. Activations are NHWC for images (tfjs' native layout) and
 * (..., C) for sequences; conv weights are kept HWIO internally.
 */
import * as tf from "@tensorflow/tfjs-core";
import { Module, type Parameter } from "./module.js";

/** `nn.Linear`: y = x Wᵀ + b, W of shape (out, in) in the state dict, kept (in, out) inside (see `Layout`). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
  ) {
    super();
    this.weight = this.param("weight", [outFeatures, inFeatures], "linear-io");
    this.bias = bias ? this.param("bias", [outFeatures]) : null;
  }
  /** (..., in) -> (..., out) */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]);
      let y = tf.matMul(x2, this.weight.value); // (N, in) · (in, out)
      if (this.bias) y = tf.add(y, this.bias.value);
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }
}

/**
 * `nn.Conv2d` on NHWC input; weight (out, in, kh, kw) in the state dict.
 * `kernelSize` and `padding` take a number or (h, w) pairs, as in PyTorch
 * (Inception's 1×7 / 7×1 convolutions).
 */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number | readonly [number, number],
    readonly stride = 1,
    readonly padding: number | readonly [number, number] = 0,
    bias = true,
  ) {
    super();
    const [kh, kw] = typeof kernelSize === "number" ? [kernelSize, kernelSize] : kernelSize;
    this.weight = this.param("weight", [outChannels, inChannels, kh, kw], "conv2d-hwio");
    this.bias = bias ? this.param("bias", [outChannels]) : null;
  }
  /** (B, H, W, Cin) -> (B, H', W', Cout). `pad` overrides the symmetric padding. */
  forward(x: tf.Tensor4D, pad?: [[number, number], [number, number]]): tf.Tensor4D {
    return tf.tidy(() => {
      const [ph, pw] = typeof this.padding === "number" ? [this.padding, this.padding] : this.padding;
      const p = pad ?? [
        [ph, ph],
        [pw, pw],
      ];
      const valid = p[0][0] === 0 && p[0][1] === 0 && p[1][0] === 0 && p[1][1] === 0;
      let y = tf.conv2d(x, this.weight.value as unknown as tf.Tensor4D, this.stride, valid ? "valid" : [[0, 0], p[0], p[1], [0, 0]]);
      if (this.bias) y = tf.add(y, this.bias.value);
      return y;
    });
  }
}

/** `nn.GroupNorm` over NHWC input (statistics per sample and group, biased variance). */
export class GroupNorm extends Module {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    if (numChannels % numGroups) throw new Error(`GroupNorm: ${numChannels} channels not divisible by ${numGroups} groups`);
    this.weight = affine ? this.param("weight", [numChannels]) : null;
    this.bias = affine ? this.param("bias", [numChannels]) : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [B, H, W, C] = x.shape;
      const g = tf.reshape(x, [B, H * W, this.numGroups, C / this.numGroups]);
      const { mean, variance } = tf.moments(g, [1, 3], true);
      let y = tf.reshape(tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, this.eps))), [B, H, W, C]);
      if (this.weight) y = tf.add(tf.mul(y, this.weight.value), this.bias!.value);
      return y as tf.Tensor4D;
    });
  }
}

/** `nn.LayerNorm` over the last axis. */
export class LayerNorm extends Module {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    this.weight = affine ? this.param("weight", [dim]) : null;
    this.bias = affine ? this.param("bias", [dim]) : null;
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      let y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps)));
      if (this.weight) y = tf.add(tf.mul(y, this.weight.value), this.bias!.value);
      return y;
    });
  }
}

/** `nn.Embedding`: rows of a (num, dim) table. */
export class Embedding extends Module {
  readonly weight: Parameter;
  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
  ) {
    super();
    this.weight = this.param("weight", [numEmbeddings, dim]);
  }
  /** int indices (...) -> (..., dim) */
  forward(idx: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.gather(this.weight.value, tf.cast(idx, "int32")));
  }
}

/** SiLU (x·sigmoid(x)). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/** GELU with the tanh approximation (PyTorch `approximate='tanh'`). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const c = Math.sqrt(2 / Math.PI);
    const inner = tf.mul(c, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x))))); // x³ as x·x² (tf.pow is slow on wasm)
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  });
}
