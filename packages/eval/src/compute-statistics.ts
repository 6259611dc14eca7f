/**
 * Streaming evaluation: images → batches → feature extractor → running
 * statistics (and, when asked, the raw features for precision/recall and
 * the logits for the Inception Score). pytorch-fid's batching with any image
 * size: each image is resized on its own to the extractor's input size
 * (bilinear, align_corners=False, what pytorch-fid's model does to a batch),
 * so a folder may mix sizes.
 */
import { type RgbImage, resize2d } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import type { FeatureExtractor } from "./feature-extractor.js";
import type { GaussianStatistics } from "./frechet-distance.js";
import { EvalInputError, type ImageLike, type ImageSet } from "./image-source.js";
import { FeatureStatistics } from "./statistics.js";

export interface ComputeOptions {
  /** Images per forward pass. Default 50 (pytorch-fid's default). */
  batchSize?: number;
  /** Collect spatial features (sFID) when the extractor has them. Default true. */
  spatial?: boolean;
  /** Keep the (N × dim) features, e.g. for precision/recall. Default false. */
  keepFeatures?: boolean;
  /** Keep the (N × classes) logits for the Inception Score. Default false. */
  keepLogits?: boolean;
  /** Called after each batch with the number of images done (and the total, when known). */
  onProgress?: (p: { done: number; total?: number }) => void;
}

export interface ComputedStatistics {
  /** The extractor's name (stored in statistics files). */
  extractor: string;
  count: number;
  stats: GaussianStatistics & { count: number };
  spatial?: GaussianStatistics & { count: number };
  /** (count × dim) when `keepFeatures`. */
  features?: Float32Array;
  /** (count × numClasses) when `keepLogits`. */
  logits?: Float32Array;
}

function isTensor(x: ImageLike): x is tf.Tensor3D | tf.Tensor4D {
  return x instanceof tf.Tensor;
}

/** One image or batch as an NHWC float tensor (caller disposes). */
function toBatch(x: ImageLike, where: string): tf.Tensor4D {
  if (isTensor(x)) {
    if ((x.rank !== 3 && x.rank !== 4) || x.shape[x.rank - 1] !== 3) {
      throw new EvalInputError(`${where}: expected an image (H, W, 3) or a batch (B, H, W, 3), got a tensor of shape [${x.shape}]`);
    }
    return tf.tidy(() => tf.cast(x.rank === 3 ? tf.expandDims(x, 0) : x, "float32")) as tf.Tensor4D;
  }
  const im = x as RgbImage;
  if (!(im.width > 0 && im.height > 0) || im.data?.length !== im.width * im.height * 3) {
    throw new EvalInputError(`${where}: not an RGB image (expected {width, height, data} with width·height·3 values)`);
  }
  return tf.tensor4d(im.data, [1, im.height, im.width, 3]);
}

/** Growable Float32Array. */
class Rows {
  private buf = new Float32Array(0);
  private n = 0;
  push(x: Float32Array): void {
    if (this.n + x.length > this.buf.length) {
      const next = new Float32Array(Math.max(this.n + x.length, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.n));
      this.buf = next;
    }
    this.buf.set(x, this.n);
    this.n += x.length;
  }
  result(): Float32Array {
    return this.buf.slice(0, this.n);
  }
}

/** Embed every image of `set` and accumulate the statistics. */
export async function computeStatistics(set: ImageSet, extractor: FeatureExtractor, opts: ComputeOptions = {}): Promise<ComputedStatistics> {
  const batchSize = opts.batchSize ?? 50;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new EvalInputError(`batch size must be a positive integer (got ${batchSize})`);
  const wantSpatial = (opts.spatial ?? true) && extractor.spatialDim !== undefined;
  const wantLogits = !!opts.keepLogits;
  if (wantLogits && extractor.numClasses === undefined) {
    throw new EvalInputError(`the feature extractor "${extractor.name}" has no classifier logits, so no Inception Score`);
  }
  const stats = new FeatureStatistics(extractor.dim);
  const spatial = wantSpatial ? new FeatureStatistics(extractor.spatialDim!) : undefined;
  const features = opts.keepFeatures ? new Rows() : undefined;
  const logits = wantLogits ? new Rows() : undefined;
  let pending: tf.Tensor4D[] = [];
  let pendingN = 0;
  let done = 0;
  let index = 0;

  const flush = async () => {
    if (!pendingN) return;
    const batch = pending.length === 1 ? pending[0] : (tf.concat(pending, 0) as tf.Tensor4D);
    try {
      const [min, max] = await Promise.all([tf.min(batch).data(), tf.max(batch).data()]);
      if (min[0] < -1e-3 || max[0] > 1 + 1e-3) {
        throw new EvalInputError(`${set.name}: image values must lie in [0, 1], found [${min[0]}, ${max[0]}] (divide 8-bit pixels by 255)`);
      }
      const out = await extractor.extract(batch, { logits: wantLogits, spatial: wantSpatial });
      const check = (what: string, arr: Float32Array | undefined, d: number) => {
        if (!arr || arr.length !== pendingN * d) {
          throw new EvalInputError(
            `feature extractor "${extractor.name}" returned ${arr?.length ?? "no"} ${what} values for ${pendingN} images; expected ${pendingN} × ${d}`,
          );
        }
        return arr;
      };
      stats.add(check("feature", out.features, extractor.dim));
      features?.push(out.features);
      if (spatial) spatial.add(check("spatial", out.spatial, extractor.spatialDim!));
      if (logits) logits.push(check("logit", out.logits, extractor.numClasses!));
    } finally {
      tf.dispose(pending);
      if (pending.length !== 1) batch.dispose();
    }
    done += pendingN;
    pending = [];
    pendingN = 0;
    opts.onProgress?.({ done, total: set.count });
  };

  for await (const item of set.images) {
    let x = toBatch(item, `${set.name} image ${index}`);
    index += x.shape[0];
    if (extractor.inputSize) {
      const [h, w] = extractor.inputSize;
      if (x.shape[1] !== h || x.shape[2] !== w) {
        const r = resize2d(x, h, w, "bilinear");
        x.dispose();
        x = r;
      }
    } else if (pending.length && (pending[0].shape[1] !== x.shape[1] || pending[0].shape[2] !== x.shape[2])) {
      await flush(); // a batch holds images of one size
    }
    // split batches larger than batchSize
    let kept = false;
    for (let o = 0; o < x.shape[0]; ) {
      const take = Math.min(batchSize - pendingN, x.shape[0] - o);
      kept = take === x.shape[0];
      pending.push(kept ? x : (tf.slice(x, [o, 0, 0, 0], [take, -1, -1, -1]) as tf.Tensor4D));
      pendingN += take;
      o += take;
      if (pendingN === batchSize) await flush();
    }
    if (!kept) x.dispose();
  }
  await flush();
  if (done === 0) throw new EvalInputError(`${set.name}: no images`);
  if (done < 2) throw new EvalInputError(`${set.name}: 1 image is not enough for a covariance (need at least 2)`);
  const out: ComputedStatistics = { extractor: extractor.name, count: done, stats: stats.result() };
  if (spatial) out.spatial = spatial.result();
  if (features) out.features = features.result();
  if (logits) out.logits = logits.result();
  return out;
}
