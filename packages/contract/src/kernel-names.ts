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

/** Every fused kernel name, in one list. */
export const FUSED_KERNELS = [Resample2d, AdaLNModulate, KVAttention, GroupNormAct] as const;
export type FusedKernelName = (typeof FUSED_KERNELS)[number];

/** Whether `name` is one of the fused kernels of this contract. */
export function isFusedKernel(name: string): name is FusedKernelName {
  return (FUSED_KERNELS as readonly string[]).includes(name);
}
