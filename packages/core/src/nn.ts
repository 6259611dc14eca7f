/**
 * The PyTorch layers the VAR models use, with PyTorch's parameter names
 * and shapes. Activations are NHWC for images (tfjs' native layout) and
 * (..., C) for sequences; conv weights are kept HWIO internally.
 */
import { GeluTanh, GeluTanhGrad } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import { hasFusedKernel } from "./kernels/fused-op.js";
import { groupNorm, groupNormFallback } from "./kernels/group-norm-act.js";
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
      let y = this.product(tf.reshape(x, [-1, this.inFeatures]));
      if (this.bias) y = tf.add(y, this.bias.value);
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }
  /** x·W without the bias: (N, in) · (in, out) -> (N, out), the product a backend may pack W for. */
  product(x2: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(x2, this.weight.value as tf.Tensor2D);
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
  /** (top, bottom), (left, right) zero padding; from `padding`, or set once for asymmetric padding (`Downsample2x`). */
  pad: [[number, number], [number, number]];
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
    const [ph, pw] = typeof padding === "number" ? [padding, padding] : padding;
    this.pad = [
      [ph, ph],
      [pw, pw],
    ];
  }
  /** (B, H, W, Cin) -> (B, H', W', Cout) */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let y = this.convolve(x);
      if (this.bias) y = tf.add(y, this.bias.value);
      return y;
    });
  }
  /** The convolution without the bias: the product a backend may pack the weight for. */
  convolve(x: tf.Tensor4D): tf.Tensor4D {
    const p = this.pad;
    const valid = p[0][0] === 0 && p[0][1] === 0 && p[1][0] === 0 && p[1][1] === 0;
    return tf.conv2d(x, this.weight.value as unknown as tf.Tensor4D, this.stride, valid ? "valid" : [[0, 0], p[0], p[1], [0, 0]]);
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
    return this.forwardAct(x, false);
  }
  /** GroupNorm then SiLU, in one fused op where the backend has one (`groupNorm`). */
  forwardSilu(x: tf.Tensor4D): tf.Tensor4D {
    return this.forwardAct(x, true);
  }
  private forwardAct(x: tf.Tensor4D, act: boolean): tf.Tensor4D {
    if (this.weight && this.bias) return groupNorm(x, this.weight.value as tf.Tensor1D, this.bias.value as tf.Tensor1D, this.numGroups, this.eps, act);
    return groupNormFallback(x, null, null, this.numGroups, this.eps, act);
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
      // Under the gradient tape, the normalisation is one node with its analytic gradient (`layerNormGrad`); else plain ops.
      let y = tf.engine().isTapeOn() ? layerNormGrad(this.eps)(x) : layerNormPlain(x, this.eps).y;
      if (this.weight) y = tf.add(tf.mul(y, this.weight.value), this.bias!.value);
      return y;
    });
  }
}

/** (x − μ)/σ over the last axis, σ = sqrt(var + eps) (biased variance): the forward of `LayerNorm`, plain ops. */
function layerNormPlain(x: tf.Tensor, eps: number): { y: tf.Tensor; sigma: tf.Tensor } {
  const { mean, variance } = tf.moments(x, -1, true);
  const sigma = tf.sqrt(tf.add(variance, eps));
  return { y: tf.div(tf.sub(x, mean), sigma), sigma };
}

/**
 * The normalisation of `LayerNorm` as one tape node: the same forward ops
 * (`layerNormPlain`, so the same values), and the analytic gradient
 * dx = (g − mean(g) − y·mean(g·y))/σ over the last axis. The tape keeps
 * only y and σ (one number per row) instead of every intermediate of the
 * forward.
 */
function layerNormGrad(eps: number): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad((x, save) => {
    const { y, sigma } = layerNormPlain(x as tf.Tensor, eps);
    (save as tf.GradSaveFunc)([y, sigma]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [yS, sigmaS] = saved;
        const g = dy as tf.Tensor;
        const centred = tf.sub(g, tf.mean(g, -1, true));
        return tf.div(tf.sub(centred, tf.mul(yS, tf.mean(tf.mul(g, yS), -1, true))), sigmaS);
      },
    };
  }) as (x: tf.Tensor) => tf.Tensor;
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

/**
 * GELU with the tanh approximation (PyTorch `approximate='tanh'`):
 * 0.5·x·(1 + tanh(z)), z = √(2/π)·(x + 0.044715·x³), computed as the equal
 * x·sigmoid(2z), because tfjs-wasm's sigmoid is vectorised and its tanh is
 * not (d16 generation: 1.3 s of tanh; measured). Where the backend
 * registers the contract's GeluTanh and GeluTanhGrad kernels (native), the
 * forward and the gradient are one kernel each instead of 7 and 14
 * element-wise passes (VAR's training step on native: about 300 of 700 ms
 * were those passes; measured).
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  // Under the gradient tape: one node with the analytic gradient (`geluTanhGrad`), the same forward values.
  return tf.engine().isTapeOn() ? geluTanhGrad(x) : geluTanhForward(x);
}

const GELU_C2 = 2 * Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** The forward of `geluTanh`: the backend's GeluTanh kernel where it has one, else the plain ops. */
function geluTanhForward(x: tf.Tensor): tf.Tensor {
  if (x.dtype === "float32" && hasFusedKernel(GeluTanh)) return tf.engine().runKernel(GeluTanh, { x }) as tf.Tensor;
  return tf.tidy(() => {
    const z2 = tf.mul(GELU_C2, tf.add(x, tf.mul(GELU_A, tf.mul(x, tf.square(x))))); // 2z; x³ as x·x² (tf.pow is slow on wasm)
    return tf.mul(x, tf.sigmoid(z2));
  });
}

/**
 * `geluTanh` as one tape node: the same forward (so the same values),
 * keeping only x for the backward instead of x², x³, 2z, sigmoid(2z) …:
 * dy/dx = s + x·s(1 − s)·2√(2/π)(1 + 3·0.044715·x²), s = sigmoid(2z); the
 * backend's GeluTanhGrad kernel where it has one.
 */
const geluTanhGrad = tf.customGrad((x, save) => {
  (save as tf.GradSaveFunc)([x as tf.Tensor]);
  return {
    value: geluTanhForward(x as tf.Tensor),
    gradFunc: (dy, [xs]) => {
      const d = dy as tf.Tensor;
      if (d.dtype === "float32" && xs.dtype === "float32" && hasFusedKernel(GeluTanhGrad)) {
        return tf.engine().runKernel(GeluTanhGrad, { x: xs, dy: d }) as tf.Tensor;
      }
      const x2 = tf.square(xs);
      const s = tf.sigmoid(tf.mul(GELU_C2, tf.mul(xs, tf.add(1, tf.mul(GELU_A, x2)))));
      const dz2 = tf.mul(GELU_C2, tf.add(1, tf.mul(3 * GELU_A, x2))); // d(2z)/dx
      return tf.mul(d, tf.add(s, tf.mul(tf.mul(xs, tf.mul(s, tf.sub(1, s))), dz2)));
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;
