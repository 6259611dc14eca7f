/**
 * `FeatureExtractor`: the one contract between the metrics and the network
 * that embeds images. FID-Inception implements it; so can any model that maps
 * images to feature vectors (a classifier trained on your own small dataset,
 * where ImageNet Inception features mean little). Statistics are only
 * comparable between sets embedded by the same extractor, so its `name` is
 * stored in statistics files and checked on comparison.
 *
 * Version 1 of the interface.
 */
import type * as tf from "@tensorflow/tfjs-core";
import { FID_WEIGHTS_FILE, type FidInceptionV3, type InceptionPreprocessing } from "./fid-inception.js";

/** Features of one batch of B images, row-major. */
export interface FeatureBatch {
  /** (B × dim) features whose mean and covariance give the Fréchet distance (FID: Inception pool3). */
  features: Float32Array;
  /** (B × numClasses) classifier logits (Inception Score), when asked for and available. */
  logits?: Float32Array;
  /** (B × spatialDim) spatial features (sFID), when asked for and available. */
  spatial?: Float32Array;
}

export interface FeatureExtractor {
  /** Identifies the network and its weights; statistics from different extractors are never compared. */
  readonly name: string;
  /** Length of `features`. */
  readonly dim: number;
  /**
   * (height, width) every image is resized to (bilinear, align_corners=False)
   * before batching. Without it, each batch holds images of one size and the
   * extractor handles the size itself.
   */
  readonly inputSize?: readonly [number, number];
  /** Length of `logits`, when the extractor has a classifier (enables the Inception Score). */
  readonly numClasses?: number;
  /** Length of `spatial`, when the extractor has spatial features (enables sFID). */
  readonly spatialDim?: number;
  /**
   * Embed a batch of images (B, H, W, 3) with values in [0, 1]. Do not
   * dispose `images`; return host arrays (the tensors you create are yours
   * to dispose).
   */
  extract(images: tf.Tensor4D, want: { logits: boolean; spatial: boolean }): Promise<FeatureBatch>;
  /** Release weights. */
  dispose?(): void;
}

/**
 * The FID-Inception network as a feature extractor (pool3, 1008 logits, 2023
 * sFID features). `preprocess: "tf"` feeds it like OpenAI's evaluator's TF
 * graph instead of like pytorch-fid (see `FidInceptionV3.preprocess`).
 */
export function inceptionFeatureExtractor(net: FidInceptionV3, opts: { preprocess?: InceptionPreprocessing } = {}): FeatureExtractor {
  const preprocess = opts.preprocess ?? "pytorch-fid";
  const c = net.config;
  const s = c.inputSize;
  // the grid after Mixed_6a: 299 → 149 → 147 → 73 → 71 → 35 → 17 (3×3 stride-2 reductions, 3×3 valid convs)
  const down = (n: number) => Math.floor((n - 3) / 2) + 1;
  const grid = down(down(down(down(s) - 2) - 2));
  return {
    name: `fid-inception-v3 (${FID_WEIGHTS_FILE}${preprocess === "tf" ? ", tf preprocessing" : ""})`,
    dim: c.poolDim,
    // pytorch-fid's resize is per image: resizing before batching is the same; the TF graph resizes itself
    inputSize: preprocess === "pytorch-fid" ? [s, s] : undefined,
    numClasses: c.numClasses,
    spatialDim: grid * grid * c.spatialChannels,
    async extract(images, want) {
      const out = net.forward(images, { spatial: want.spatial, preprocess });
      try {
        const batch: FeatureBatch = { features: (await out.pool3.data()) as Float32Array };
        if (want.logits) batch.logits = await net.hostLogits(batch.features); // float64 fc on the host
        if (out.spatial) batch.spatial = (await out.spatial.data()) as Float32Array;
        return batch;
      } finally {
        out.pool3.dispose();
        out.spatial?.dispose();
      }
    },
    dispose: () => net.dispose(),
  };
}
