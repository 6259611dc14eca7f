/**
 * @nextscale/sampler: scale-by-scale VAR generation (the official
 * `autoregressive_infer_cfg`) with classifier-free guidance, top-k/top-p,
 * seeded sampling, progress and cancellation, and zero-shot editing
 * (in-painting, out-painting, class-conditional editing) through keep-masks.
 */
export { classIndex, className, IMAGENET_CLASS_NAMES, UnknownClassError } from "./class-names.js";
export { boxKeepMask, EditMaskError, imageKeepMask, type KeepMask, scaleKeepMask, scaleKeepMaskValues } from "./edit-mask.js";
export {
  checkModelPair,
  GENERATE_DEFAULTS,
  type GenerateOptions,
  type GenerateResult,
  GenerationCancelledError,
  generate,
  imageLabel,
  resolveImageIndices,
  resolveLabels,
  type ScaleProgress,
} from "./generate.js";
export { argmaxRow, type FilterOptions, filterTopKTopP, sampleRow, sampleTokens, softmax, validateFilter } from "./top-k-top-p.js";
export {
  DEFAULT_MODEL_PACKAGE,
  DefaultModelMissingError,
  defaultModel,
  type LoadedModels,
  type LoadModelsOptions,
  type LoadProgress,
  loadModels,
  type ModelSources,
} from "./load.js";
