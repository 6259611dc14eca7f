/**
 * The named fused ops. Each has a kernel name from @nextscale/contract, a
 * plain tfjs-ops fallback, and a gradient; `@nextscale/backends` registers
 * faster kernels under these names for the backends where they measured
 * faster.
 */
export { adaLNModulate, adaLNModulateFallback } from "./ada-ln-modulate.js";
export { fusedOp, hasFusedKernel } from "./fused-op.js";
export { groupNorm, groupNormFallback } from "./group-norm-act.js";
export { kvAttention, kvAttentionFallback } from "./kv-attention.js";
export { resample2d, resample2dFallback } from "./resample2d.js";
