/**
 * Batches for training: a seeded shuffle per epoch, the official transform
 * per image, float32 NHWC batches with int32 labels, and prefetching: while
 * the caller computes on batch k, batches k+1 … k+prefetch are already being
 * read, decoded and transformed (file reads are asynchronous and the
 * preparation yields to the event loop between images, so it proceeds
 * whenever the compute awaits, e.g. a GPU readback). Decoding itself runs on
 * the main thread; for heavy JPEG decoding use a worker-backed dataset.
 *
 * Determinism: epoch e's order is a Fisher–Yates shuffle drawn from
 * `Random.forIndex(seed, e)`; item i's augmentation in epoch e (flip, crop)
 * from `Random.forIndex(augSeed, e·N + i)` with augSeed derived from the
 * seed, so an image gets the same crop whatever the batch size or the
 * prefetch depth. The last batch, when N is not a multiple of the batch
 * size, is by default filled with the first items of the epoch's order, as
 * the official sampler (`fill_last=True`) does; "drop" leaves it out,
 * "partial" yields it short.
 */
import { Random } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import type { ImageDataset } from "./datasets.js";
import { DatasetError } from "./errors.js";
import { centerTransform, cropToPm1, type TransformOptions, trainTransform } from "./transform.js";

export interface Batch {
  /** (B, H, W, 3) float32, row-major NHWC. */
  images: Float32Array<ArrayBuffer>;
  /** (B,) labels. */
  labels: Int32Array<ArrayBuffer>;
  /** [B, H, W, 3]. */
  shape: [number, number, number, number];
  /** The dataset items of the batch. */
  indices: number[];
  epoch: number;
  /** The batch's index within the epoch. */
  step: number;
}

export interface LoaderOptions {
  batchSize: number;
  /** Seed of the shuffles and augmentations (default 0). */
  seed?: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** The last, short batch: "fill" (official), "drop", or "partial". */
  last?: "fill" | "drop" | "partial";
  /**
   * The preprocessing: "train" (the official train transform; needs `size`),
   * "center" (the validation transform; needs `size`), or "none" (images used
   * as they are, mapped to [−1, 1]; all must have one size).
   */
  transform?: "train" | "center" | "none";
  /** Output size S for "train" / "center". */
  size?: number;
  midReso?: number;
  hflip?: boolean;
  /** Batches prepared ahead of the one being consumed (default 2; 0 turns prefetching off). */
  prefetch?: number;
}

const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

export class DataLoader {
  readonly batchSize: number;
  readonly seed: number;
  private readonly augSeed: number;
  private readonly o: Required<Pick<LoaderOptions, "shuffle" | "last" | "transform" | "prefetch">> & LoaderOptions;

  constructor(
    readonly dataset: ImageDataset,
    opts: LoaderOptions,
  ) {
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) throw new DatasetError(`DataLoader: batchSize must be a positive integer (got ${opts.batchSize})`);
    if (dataset.length === 0) throw new DatasetError("DataLoader: the dataset is empty");
    this.batchSize = opts.batchSize;
    this.seed = opts.seed ?? 0;
    this.augSeed = new Random(this.seed).fork().seed;
    this.o = { shuffle: true, last: "fill", transform: "train", prefetch: 2, ...opts };
    if (this.o.transform !== "none" && this.o.size === undefined) throw new DatasetError(`DataLoader: transform "${this.o.transform}" needs a size`);
    if (this.o.last === "drop" && dataset.length < this.batchSize) {
      throw new DatasetError(`DataLoader: ${dataset.length} items make no full batch of ${this.batchSize} (last: "drop")`);
    }
  }

  /** Batches per epoch (the official iters_train). */
  get batchesPerEpoch(): number {
    const n = this.dataset.length;
    return this.o.last === "drop" ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  private cached: { epoch: number; order: number[] } | null = null;

  /** Epoch e's item order (before batching), with the fill of the last batch. */
  order(epoch: number): number[] {
    if (this.cached?.epoch !== epoch) this.cached = { epoch, order: this.drawOrder(epoch) };
    return this.cached.order.slice();
  }

  private drawOrder(epoch: number): number[] {
    const n = this.dataset.length;
    const idx = Array.from({ length: n }, (_, i) => i);
    if (this.o.shuffle) {
      const r = Random.forIndex(this.seed, epoch);
      for (let i = n - 1; i > 0; i--) {
        const j = r.int(i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
    }
    const tail = n % this.batchSize;
    if (tail && this.o.last === "fill") {
      const need = this.batchSize - tail;
      for (let k = 0; k < need; k++) idx.push(idx[k % n]);
    }
    return idx.slice(0, this.batchesPerEpoch * this.batchSize);
  }

  /** Prepare one batch (reads, decodes and transforms its images). */
  async batch(epoch: number, step: number): Promise<Batch> {
    const order = this.order(epoch);
    const indices = order.slice(step * this.batchSize, (step + 1) * this.batchSize);
    if (indices.length === 0) throw new RangeError(`batch ${step} out of range (epoch has ${this.batchesPerEpoch})`);
    return this.prepare(epoch, step, indices);
  }

  private async prepare(epoch: number, step: number, indices: number[]): Promise<Batch> {
    const B = indices.length;
    const o = this.o;
    let images: Float32Array<ArrayBuffer> | undefined;
    let hw: [number, number] | undefined;
    let first = "";
    for (let b = 0; b < B; b++) {
      const i = indices[b];
      const img = await this.dataset.image(i);
      if (o.transform === "none") {
        if (!hw) {
          hw = [img.height, img.width];
          first = this.dataset.itemName(i);
        } else if (img.height !== hw[0] || img.width !== hw[1]) {
          throw new DatasetError(
            `images of mixed sizes: ${first} is ${hw[1]}×${hw[0]}, ${this.dataset.itemName(i)} is ${img.width}×${img.height}; give a size (transform "train" or "center") to resize them`,
          );
        }
        if (img.width !== img.height) throw new DatasetError(`${this.dataset.itemName(i)} is ${img.width}×${img.height}, not square; give a size to crop it`);
        images ??= new Float32Array(B * img.height * img.width * 3);
        cropToPm1(img, 0, 0, img.width, images, b * img.height * img.width * 3);
      } else {
        const S = o.size!;
        hw = [S, S];
        images ??= new Float32Array(B * S * S * 3);
        const t: TransformOptions = { size: S, midReso: o.midReso, hflip: o.hflip };
        try {
          if (o.transform === "train") trainTransform(img, Random.forIndex(this.augSeed, epoch * this.dataset.length + i), t, images, b * S * S * 3);
          else centerTransform(img, t, images, b * S * S * 3);
        } catch (e) {
          if (e instanceof DatasetError) throw new DatasetError(`${this.dataset.itemName(i)}: ${e.message}`);
          throw e;
        }
      }
      if (b + 1 < B) await yieldToEventLoop();
    }
    const labels = Int32Array.from(indices, (i) => this.dataset.label(i));
    return { images: images!, labels, shape: [B, hw![0], hw![1], 3], indices, epoch, step };
  }

  /**
   * The batches of an epoch, prefetched; `startStep` resumes mid-epoch.
   * Breaking out of the loop stops the prefetching (already started batches finish and are dropped).
   */
  async *epoch(epoch: number, startStep = 0): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const n = this.batchesPerEpoch;
    const make = (s: number) => {
      const p = this.prepare(epoch, s, order.slice(s * this.batchSize, (s + 1) * this.batchSize));
      p.catch(() => {}); // surfaced when awaited
      return p;
    };
    const queue: Promise<Batch>[] = [];
    let next = startStep;
    const ahead = Math.max(0, this.o.prefetch);
    const fill = (k: number) => {
      while (next < n && queue.length < k) queue.push(make(next++));
    };
    fill(1 + ahead);
    while (queue.length) {
      const b = await queue.shift()!;
      fill(ahead);
      yield b;
      if (queue.length === 0) fill(1); // no prefetch: the next batch starts when asked for
    }
  }

  /** A batch as tensors: images (B, H, W, 3) float32 and labels (B,) int32 (the caller disposes them). */
  static toTensors(b: Batch): { images: tf.Tensor4D; labels: tf.Tensor1D } {
    return { images: tf.tensor4d(b.images, b.shape, "float32"), labels: tf.tensor1d(b.labels, "int32") };
  }
}
