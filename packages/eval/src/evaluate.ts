/**
 * Compare a reference set A with a generated set B the way papers report it
 * (OpenAI's evaluator: `evaluator.py ref_batch sample_batch`): FID from the
 * two sets' statistics, sFID when both have spatial statistics, the Inception
 * Score of B, improved precision (B on A's manifold) / recall (A on B's),
 * and the accuracy of a classifier on the classes B's images were generated
 * for (their file names': `3_17.png` is class 3).
 * Each side is images (a folder, an `.npz` `arr_0`, a generator) or a
 * statistics file; a reference batch with both uses its statistics for FID
 * and its images for precision/recall, as OpenAI's evaluator does.
 */
import { openCheckpoint } from "@nextscale/core";
import { type ClassAccuracy, classAccuracy, imageLabels } from "./class-accuracy.js";
import { type ComputedStatistics, computeStatistics } from "./compute-statistics.js";
import type { FeatureExtractor } from "./feature-extractor.js";
import { type FrechetResult, frechetDistance, type GaussianStatistics } from "./frechet-distance.js";
import { EvalInputError, type ImageSet, imageFolder, labelFromFileName, listImageFiles, npzImages } from "./image-source.js";
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
  /**
   * Each image's class, in the order `images` yields them (undefined: none),
   * known before any image is read: `openEvalInput` sets it for a folder from
   * the file names (`3_17.png` → 3). Needed for `accuracy`.
   */
  labels?: readonly (number | undefined)[];
  /** The image files, in the same order (a folder's), to name one in errors. */
  files?: readonly string[];
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
    const { files } = await listImageFiles(path); // an empty or unusable folder fails now, before any weights are loaded
    return { name: path, images: () => imageFolder(path, opts), labels: files.map(labelFromFileName), files };
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
  /**
   * Accuracy on the class asked for: the share of B's images whose class
   * (B's `labels`: a folder's file names, `<class>_<i>.png`) is the argmax of
   * the extractor's logits; needs an extractor with `numClasses`.
   */
  accuracy?: boolean;
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
  /** Accuracy of the extractor's classifier on B's classes, when asked for. */
  accuracy?: ClassAccuracy;
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
  let labels: number[] | undefined;
  if (opts.accuracy) {
    const numClasses = opts.extractor?.numClasses;
    if (numClasses === undefined) {
      throw new EvalInputError(
        opts.extractor
          ? `the accuracy on the class asked for needs classifier logits, but the feature extractor "${opts.extractor.name}" has none (it declares no numClasses)`
          : "the accuracy on the class asked for needs a feature extractor with a classifier (numClasses)",
      );
    }
    if (!b.images) throw new EvalInputError(`${b.name}: the accuracy on the class asked for needs images, but this input holds only statistics`);
    labels = imageLabels(b, numClasses);
  }
  const A = await side(a, "A", opts, { features: pr, logits: false });
  const B = await side(b, "B", opts, { features: pr, logits: isSplits > 0 || !!labels });
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
  if (labels) result.accuracy = classAccuracy(B.computed!.logits!, labels, opts.extractor!.numClasses!, { files: b.files });
  return result;
}
