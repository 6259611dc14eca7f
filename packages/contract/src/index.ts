/**
 * @nextscale/contract: what model code and compute backends agree on, in
 * one place both import (tfjs-core's `kernel_names.ts` pattern): the names,
 * inputs and attributes of the fused kernels, and the weight-packing
 * interface. No tensors are computed here. The training kernels
 * (GroupNormActGrad, GeluTanh, GeluTanhGrad, AdamWUpdate) are optional per
 * backend.
 */
export {
  AdamWUpdate,
  type AdamWUpdateAttrs,
  type AdamWUpdateInputs,
  AdaLNModulate,
  type AdaLNModulateAttrs,
  type AdaLNModulateInputs,
  FUSED_KERNELS,
  type FusedKernelName,
  GeluTanh,
  GeluTanhGrad,
  type GeluTanhGradInputs,
  type GeluTanhInputs,
  GroupNormAct,
  type GroupNormActAttrs,
  GroupNormActGrad,
  type GroupNormActGradAttrs,
  type GroupNormActGradInputs,
  type GroupNormActInputs,
  isFusedKernel,
  KVAttention,
  type KVAttentionAttrs,
  type KVAttentionInputs,
  Resample2d,
  type Resample2dInputs,
  TRAINING_KERNELS,
  type TrainingKernelName,
} from "./kernel-names.js";
export {
  getWeightPacking,
  PackedWeightError,
  type ProductWeight,
  registerWeightPacking,
  type WeightPacking,
} from "./weight-packing.js";
