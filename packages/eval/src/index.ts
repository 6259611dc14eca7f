/**
 * @nextscale/eval: FID (pytorch-fid's Inception), Inception Score, improved
 * precision/recall and sFID, numerically equal to the standard tools, and a
 * domain classifier's accuracy on the class asked for.
 */
export {
  checkStatistics,
  type FrechetOptions,
  type FrechetResult,
  frechetDistance,
  type GaussianStatistics,
  StatisticsError,
  traceSqrtProduct,
} from "./frechet-distance.js";
export { type InceptionScore, inceptionScore } from "./inception-score.js";
export { congruence, pivotedCholesky, symmetricEigenvalues, tridiagonalEigenvalues, tridiagonalize } from "./linalg64.js";
export { type PrecisionRecall, precisionRecall } from "./precision-recall.js";
export {
  FeatureStatistics,
  hasStatistics,
  loadStatistics,
  mergeStatistics,
  readStatistics,
  type StatisticsFile,
  statisticsToNpz,
} from "./statistics.js";
export {
  FID_INCEPTION,
  FID_WEIGHTS_FILE,
  FID_WEIGHTS_URL,
  type FidInceptionConfig,
  type FidInceptionOutput,
  FidInceptionV3,
  type InceptionPreprocessing,
  legacyBilinearMatrix,
  loadFidInception,
} from "./fid-inception.js";
export { hashedInceptionWeights, hashUniform } from "./hashed-weights.js";
export { type ComputedStatistics, type ComputeOptions, computeStatistics } from "./compute-statistics.js";
export { type EvalInput, type EvaluateOptions, type EvaluationResult, evaluate, openEvalInput } from "./evaluate.js";
export { type FeatureBatch, type FeatureExtractor, inceptionFeatureExtractor } from "./feature-extractor.js";
export { EvalInputError, type ImageLike, type ImageSet, imageFolder, labelFromFileName, listImageFiles, npzImages } from "./image-source.js";
export { type ClassAccuracy, classAccuracy, classifyImages, imageLabels } from "./class-accuracy.js";
