/**
 * @nextscale/transformer: the VAR transformer (FoundationVision/VAR
 * `models/var.py`, `models/basic_var.py`): AdaLN self-attention blocks,
 * block-causal training forward and loss, KV-cache inference one scale at a
 * time, the released presets d16…d36, configuration inferred from a
 * checkpoint, and the official random initialisation.
 */
export { AdaLNBeforeHead } from "./ada-ln-before-head.js";
export { AdaLin, AdaLNSelfAttn, type AdaLNSelfAttnOptions } from "./ada-ln-self-attn.js";
export {
  inferVarConfig,
  KNOWN_PATCH_NUMS,
  PATCH_NUMS_256,
  PATCH_NUMS_512,
  PATCH_NUMS_1024,
  patchNumsFromLevels,
  scaleRanges,
  tokenCount,
  VAR_PRESETS,
  type VarConfig,
  type VarPresetName,
  varConfig,
} from "./config.js";
export { FFN } from "./ffn.js";
export { initWeights, type VarInitOptions, type VarInitProgress } from "./init.js";
export { KVCache } from "./kv-cache.js";
export { type VarLossOptions, varLoss } from "./loss.js";
export { SelfAttention } from "./self-attention.js";
export { dropPathRates, type ForwardOptions, type Labels, type VarCondition, VarTransformer } from "./var-transformer.js";
