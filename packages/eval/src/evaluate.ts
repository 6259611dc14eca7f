/**
 * Compare a reference set A with a generated set B the way papers report it
 * (OpenAI's evaluator: `evaluator.py ref_batch sample_batch`): FID from the
 * two sets' statistics, sFID when both have spatial statistics, the Inception
 * Score of B, and improved precision (B on A's manifold) / recall (A on B's).
 * Each side is images (a folder, an `.npz` `arr_0`, a generator) or a
 * statistics file; a reference batch with both uses its statistics for FID
 * and its images for precision/recall, as OpenAI's evaluator does.
 */
import { openCheckpoint } from "@nextscale/core";
import { type ComputedStatistics, computeStatistics } from "./compute-statistics.js";
import type { FeatureExtractor } from "./feature-extractor.js";
import { type FrechetResult, frechetDistance, type GaussianStatistics } from "./frechet-distance.js";
import { EvalInputError, type ImageSet, imageFolder, listImageFiles, npzImages } from "./image-source.js";
import { type InceptionScore, inceptionScore } from "./inception-score.js";
import { precisionRecall } from "./precision-recall.js";
import { hasStatistics, readStatistics, type StatisticsFile } from "./statistics.js";

/** One side of a comparison: statistics, images, or both. */
export interface EvalInput {
  name: string;
  /** Precomputed statistics (our `.npz` or an OpenAI reference batch). */
  statistics?: StatisticsFile;
  /** Images, embedded when statistics are missing or features are needed. */
  images?: () => Promise<ImageSet>;
}

/**
 * Open a path as an evaluation input: a folder of PNG/JPEG images, or an
 * `.npz` with statistics (`mu`, `sigma` …) and/or images (`arr_0`).
 */
export async function openEvalInput(path: string, opts: { onWarning?: (message: string) => void } = {}): Promise<EvalInput> {
  const { stat } = await import("node:fs/promises");
  const st = await stat(path).catch(() => null);
  if (!st) throw new EvalInputError(`${path}: no such file or folder`);
  if (st.isDirectory()) {
    await listImageFiles(path); // an empty or unusable folder fails now, before any weights are loaded
    return { name: path, images: () => imageFolder(path, opts) };
  }
  const store = await openCheckpoint(path);
  try {
    const input: EvalInput = { name: path };
    if (hasStatistics(store)) input.statistics = await readStatistics(store);
    if (store.has("arr_0")) input.images = () => npzImages(path);
    if (!input.statistics && !input.images) {
      throw new EvalInputError(
        `${path}: neither statistics ("mu", "sigma") nor images ("arr_0"); found ${store.keys().slice(0, 8).join(", ")}`,
      );
    }
    return input;
  } finally {
    await store.close();
  }
}

export interface EvaluateOptions {
  /** Embeds images (FID Inception or a domain extractor); needed whenever a side's features must be computed. */
  extractor?: FeatureExtractor;
  /** Inception Score of B, with this many splits (true: 10, as in the Inception Score paper). */
  inceptionScore?: boolean | number;
  /** Improved precision and recall (k = 3); needs images on both sides. */
  precisionRecall?: boolean;
  /** Images per forward pass (default 50). */
  batchSize?: number;
  /** Passed to the Fréchet distance. */
  eps?: number;
  /** Progress of embedding each side. */
  onProgress?: (side: "A" | "B", p: { done: number; total?: number }) => void;
}

export interface EvaluationResult {
  fid: number;
  /** Spatial FID, when both sides have spatial statistics. */
  sfid?: number;
  inceptionScore?: InceptionScore;
  precision?: number;
  recall?: number;
  /** Details of the FID computation (terms, rank, whether the offset was used). */
  frechet: FrechetResult;
  /** Statistics computed from images in this run (to save them). */
  computed: { A?: ComputedStatistics; B?: ComputedStatistics };
  count: { A?: number; B?: number };
}

function needExtractor(opts: EvaluateOptions, why: string): FeatureExtractor {
  if (!opts.extractor) throw new EvalInputError(`${why} needs a feature extractor (the FID Inception weights or a domain extractor)`);
  return opts.extractor;
}

/** Embed one side if its statistics are missing or its features/logits are needed. */
async function side(
  input: EvalInput,
  label: "A" | "B",
  opts: EvaluateOptions,
  need: { features: boolean; logits: boolean },
): Promise<{ stats: GaussianStatistics & { count?: number }; spatial?: GaussianStatistics; extractor?: string; computed?: ComputedStatistics }> {
  const file = input.statistics;
  if (file && !need.features && !need.logits) return { stats: file.stats, spatial: file.spatial, extractor: file.extractor };
  if (!input.images) {
    const what = need.logits ? "the Inception Score" : "precision/recall";
    throw new EvalInputError(`${input.name}: ${what} needs images, but this input holds only statistics`);
  }
  const extractor = needExtractor(opts, `${input.name}: computing features`);
  const computed = await computeStatistics(await input.images(), extractor, {
    batchSize: opts.batchSize,
    keepFeatures: need.features,
    keepLogits: need.logits,
    onProgress: (p) => opts.onProgress?.(label, p),
  });
  // a reference batch's own statistics stay the FID reference, as in OpenAI's evaluator
  if (file) return { stats: file.stats, spatial: file.spatial, extractor: file.extractor ?? extractor.name, computed };
  return { stats: computed.stats, spatial: computed.spatial, extractor: computed.extractor, computed };
}

/** FID (and the optional metrics) of B against the reference A. */
export async function evaluate(a: EvalInput, b: EvalInput, opts: EvaluateOptions = {}): Promise<EvaluationResult> {
  const pr = !!opts.precisionRecall;
  const isSplits = opts.inceptionScore === true ? 10 : opts.inceptionScore || 0;
  // checked before any image is embedded (side A is embedded before B's logits are asked for)
  if (isSplits && opts.extractor && opts.extractor.numClasses === undefined) {
    throw new EvalInputError(
      `the Inception Score needs classifier logits, but the feature extractor "${opts.extractor.name}" has none (it declares no numClasses)`,
    );
  }
  if (isSplits && !b.images) throw new EvalInputError(`${b.name}: the Inception Score needs images, but this input holds only statistics`);
  if (pr) {
    const noImages = [a, b].find((x) => !x.images);
    if (noImages) throw new EvalInputError(`${noImages.name}: precision/recall needs images, but this input holds only statistics`);
  }
  const A = await side(a, "A", opts, { features: pr, logits: false });
  const B = await side(b, "B", opts, { features: pr, logits: isSplits > 0 });
  if (A.extractor && B.extractor && A.extractor !== B.extractor) {
    throw new EvalInputError(`A and B were embedded by different feature extractors ("${A.extractor}" vs "${B.extractor}"): their statistics cannot be compared`);
  }
  const frechet = frechetDistance(A.stats, B.stats, { eps: opts.eps });
  const result: EvaluationResult = {
    fid: frechet.distance,
    frechet,
    computed: { A: A.computed, B: B.computed },
    count: { A: A.computed?.count ?? A.stats.count, B: B.computed?.count ?? B.stats.count },
  };
  if (A.spatial && B.spatial) result.sfid = frechetDistance(A.spatial, B.spatial, { eps: opts.eps }).distance;
  if (isSplits) result.inceptionScore = inceptionScore(B.computed!.logits!, opts.extractor!.numClasses!, Math.min(isSplits, B.computed!.count));
  if (pr) {
    const r = precisionRecall(A.computed!.features!, B.computed!.features!, opts.extractor!.dim, 3);
    result.precision = r.precision;
    result.recall = r.recall;
  }
  return result;
}
