/**
 * @nextscale/train: the paper's two training stages (the multi-scale
 * VQ-VAE, then the VAR transformer on its token maps) with the official
 * recipe, datasets, and checkpoints that move both ways with the official
 * PyTorch trainer.
 */

export { accumulateGrads, microBatches } from "./accumulate.js";
export * from "./checkpoint/index.js";
export { CodebookMonitor, type CodebookOptions, type CodebookState, type ScaleUsage } from "./codebook.js";
export * from "./data/index.js";
export {
  adaptiveWeight,
  BatchNorm2d,
  type DiscriminatorOptions,
  generatorLoss,
  hingeDLoss,
  PatchDiscriminator,
  patchOutputSide,
  vqganAdaptiveWeight,
} from "./discriminator.js";
export { vqvaeSafetensors } from "./export.js";
export { PeakMemory, peakRssBytes } from "./memory.js";
export { type MetricsEvent, MetricsLog, MetricsLogError, type MetricsRecord, readMetricsLog } from "./metrics-log.js";
export * from "./optim/index.js";
export { linePlotPng, niceTicks, type PlotOptions, type PlotSeries, renderLinePlot } from "./plot.js";
export { linePlotSvg } from "./plot-svg.js";
export * from "./scaling/index.js";
export {
  type CachedTokenMaps,
  type CachedTokenMapsOptions,
  cachedTokenMaps,
  encodeTokenMaps,
  readTokenCache,
  TOKEN_CACHE_FORMAT,
  type TokenBatch,
  type TokenEncodeOptions,
  type TokenMaps,
  tokenBatch,
} from "./token-cache.js";
export { type VarFitOptions, type VarStepResult, VarTrainer, type VarTrainerOptions, type VarTrainerRng } from "./var-trainer.js";
export {
  type GanOptions,
  type GanStepMetrics,
  initVqvaeForTraining,
  isDecoderParameter,
  type TrainVqvaeOptions,
  tinyVqvaeConfig,
  trainVqvae,
  type VqvaeStepMetrics,
  VqvaeTrainer,
  type VqvaeTrainerOptions,
  type VqvaeTrainerState,
} from "./vqvae-trainer.js";
