/**
 * The named fused kernels: one tfjs kernel name per fused op, with the
 * names of its inputs and the type of its attributes, after tfjs-core's own
 * `kernel_names.ts` (`export const Softmax = 'Softmax'; export type
 * SoftmaxInputs = …; export interface SoftmaxAttrs …`).
 *
 * `@nextscale/core` defines each op (its plain tfjs-ops fallback and its
 * gradient) and dispatches it under this name; a backend that has a faster
 * version registers a kernel under the same name. Both import the names
 * from here, so they cannot drift apart.
 */
import type { TensorInfo } from "@tensorflow/tfjs-core";

/** Y = Mh · X · Mwᵀ per image and channel: every `F.interpolate` of the VAR models. */
export const Resample2d = "Resample2d";
export type Resample2d = typeof Resample2d;
/** x (B, H, W, C), mh (h, H), mw (w, W). */
export type Resample2dInputs = Record<"x" | "mh" | "mw", TensorInfo>;

/** LN(x)·(1 + scale) + shift: the adaptive LayerNorm of every VAR block and of the head. */
export const AdaLNModulate = "AdaLNModulate";
export type AdaLNModulate = typeof AdaLNModulate;
/** x (B, L, C), scale and shift (B, 1, C). */
export type AdaLNModulateInputs = Record<"x" | "scale" | "shift", TensorInfo>;
export interface AdaLNModulateAttrs {
  /** LayerNorm epsilon. */
  eps: number;
}

/** softmax(scale · q·kᵀ) · v: one scale's queries over the KV cache, no mask. */
export const KVAttention = "KVAttention";
export type KVAttention = typeof KVAttention;
/** q (B, H, Lq, c), k and v (B, H, Lk, c). */
export type KVAttentionInputs = Record<"q" | "k" | "v", TensorInfo>;
export interface KVAttentionAttrs {
  /** Softmax temperature (1 with L2-normalised q and k). */
  scale: number;
}

/** GroupNorm over NHWC input, its affine map, then optionally SiLU: every ResNet block of the VQ-VAE. */
export const GroupNormAct = "GroupNormAct";
export type GroupNormAct = typeof GroupNormAct;
/** x (B, H, W, C), gamma and beta (C). */
export type GroupNormActInputs = Record<"x" | "gamma" | "beta", TensorInfo>;
export interface GroupNormActAttrs {
  /** Number of channel groups (C divisible by it). */
  groups: number;
  eps: number;
  /** Apply SiLU after the affine map. */
  silu: boolean;
}

/**
 * The gradient of GroupNormAct in one kernel (the VQ-VAE's training step:
 * its plain-ops gradient is some 25 passes over each activation). Outputs
 * [dx (B, H, W, C), dgamma (C), dbeta (C)].
 */
export const GroupNormActGrad = "GroupNormActGrad";
export type GroupNormActGrad = typeof GroupNormActGrad;
/** GroupNormAct's inputs, and dy (B, H, W, C): the gradient at its output. */
export type GroupNormActGradInputs = Record<"x" | "gamma" | "beta" | "dy", TensorInfo>;
export type GroupNormActGradAttrs = GroupNormActAttrs;

/**
 * One AdamW step of one parameter (torch.optim.AdamW's update, float32,
 * each operation rounded as the plain ops round it):
 *   g = grad·gradScale;  m' = β1·m + (1 − β1)·g;  v' = β2·v + (1 − β2)·g²;
 *   p' = p·decay + negStepSize·(m' / (√v' / bc2Sqrt + eps)).
 * Outputs [p', m', v'], each of the parameter's shape.
 */
export const AdamWUpdate = "AdamWUpdate";
export type AdamWUpdate = typeof AdamWUpdate;
/** param, grad, m, v (the same shape); gradScale: optional scalar (gradient clipping's coefficient). */
export type AdamWUpdateInputs = Record<"param" | "grad" | "m" | "v", TensorInfo> & { gradScale?: TensorInfo };
export interface AdamWUpdateAttrs {
  /** 1 − lr·weightDecay. */
  decay: number;
  beta1: number;
  /** 1 − β1 (as the plain ops compute it, in float64 then rounded). */
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  /** √(1 − β2^step). */
  bc2Sqrt: number;
  eps: number;
  /** −lr / (1 − β1^step). */
  negStepSize: number;
}

/**
 * GELU with the tanh approximation (PyTorch `approximate='tanh'`),
 * element-wise: y = x·sigmoid(2z), z = √(2/π)·(x + 0.044715·x³) (the same
 * as 0.5·x·(1 + tanh(z))). Output y, of x's shape.
 */
export const GeluTanh = "GeluTanh";
export type GeluTanh = typeof GeluTanh;
export type GeluTanhInputs = Record<"x", TensorInfo>;

/**
 * GeluTanh's gradient, element-wise: dx = dy·(s + x·s·(1 − s)·2√(2/π)·(1 +
 * 3·0.044715·x²)), s = sigmoid(2z). Output dx, of x's shape.
 */
export const GeluTanhGrad = "GeluTanhGrad";
export type GeluTanhGrad = typeof GeluTanhGrad;
export type GeluTanhGradInputs = Record<"x" | "dy", TensorInfo>;

/**
 * The training kernels: optional per backend, no fused op of their own in
 * @nextscale/backends. Backward and optimizer kernels, and GeluTanh (the
 * forward whose intermediates would otherwise fill the tape; core's
 * `geluTanh` also runs it at inference where registered). Core's ops and
 * gradients and @nextscale/train's optimizer run them where the active
 * backend registers them, their plain-ops formulas elsewhere (the results
 * agree: tested per backend).
 */
export const TRAINING_KERNELS = [GroupNormActGrad, GeluTanh, GeluTanhGrad, AdamWUpdate] as const;
export type TrainingKernelName = (typeof TRAINING_KERNELS)[number];

/** Every fused kernel name, in one list. */
export const FUSED_KERNELS = [Resample2d, AdaLNModulate, KVAttention, GroupNormAct] as const;
export type FusedKernelName = (typeof FUSED_KERNELS)[number];

/** Whether `name` is one of the fused kernels of this contract. */
export function isFusedKernel(name: string): name is FusedKernelName {
  return (FUSED_KERNELS as readonly string[]).includes(name);
}
