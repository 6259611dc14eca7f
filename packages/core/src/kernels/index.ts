/**
 * The named fused ops. Each has a tfjs kernel name, a plain tfjs-ops
 * fallback, and a gradient; `@nextscale/backends` registers faster kernels
 * under these names for the backends where they measured faster.
 */
import { ADA_LN_MODULATE } from "./ada-ln-modulate.js";
import { GROUP_NORM } from "./group-norm.js";
import { KV_ATTENTION } from "./kv-attention.js";
import { RESAMPLE2D } from "./resample2d.js";

export { ADA_LN_MODULATE, adaLNModulate, adaLNModulateFallback } from "./ada-ln-modulate.js";
export { fusedOp, hasFusedKernel } from "./fused-op.js";
export { GROUP_NORM, groupNorm, groupNormFallback } from "./group-norm.js";
export { KV_ATTENTION, kvAttention, kvAttentionFallback } from "./kv-attention.js";
export { RESAMPLE2D, resample2d, resample2dFallback } from "./resample2d.js";

/** Every fused op's kernel name. */
export const FUSED_KERNELS: readonly string[] = [RESAMPLE2D, ADA_LN_MODULATE, KV_ATTENTION, GROUP_NORM];
