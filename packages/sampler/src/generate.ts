/**
 * Scale-by-scale generation as the official `VAR.autoregressive_infer_cfg`
 * (FoundationVision/VAR `models/var.py`), plus zero-shot editing as its
 * `demo_zero_shot_edit.ipynb` (`autoregressive_infer_cfg_with_mask`):
 *
 *   batch doubled: rows [0, B) conditional, [B, 2B) "no class";
 *   for each scale k of K:
 *     logits = VAR(scale k | cache)                          (2B, l, V)
 *     t = cfg·k/(K−1);  guided = (1+t)·cond − t·uncond       (B, l, V)
 *     idx = top-k → top-p → one multinomial draw             (B, l)
 *     h = embed(idx)   (or the Gumbel-softmax expectation with moreSmooth)
 *     where the keep-mask says so, h = embed(source idx)
 *     f̂ += φ_k(bicubic_up(h)); next input = area_down(f̂, pn_{k+1})
 *   image = (decode(f̂) + 1) / 2
 *
 * Token decisions are made on the host with our seeded `Random`, so the
 * same seed, settings and backend give the same images every time.
 *
 * Per-image streams: image i of a run (its global index: `firstIndex + b`
 * for row b of the batch, or `imageIndices[b]`) draws only from its own
 * generator `Random.forIndex(seed, i)` (core: xoshiro128** whose state is
 * SplitMix64 of a hash of seed and i), in a fixed order:
 *   1. its label, `int(numClasses)`, drawn whether or not `labels` are given
 *      (a given label replaces it), so an image is the same whether its
 *      class was drawn or passed;
 *   2. for each scale k = 0…K−1, for each token of the scale in row-major
 *      order: one `random()` for the multinomial draw (none when greedy,
 *      topK = 1), then with `moreSmooth` V `gumbel()` draws, one per code.
 * No draw depends on the other images of the batch, so image i is the same
 * at any batch size, in any shard or resumed run (given logits that do not
 * depend on the batch: see the README, "Reproducibility").
 * Notation: B images, K scales, l = pn² tokens of a scale, V codebook size.
 */

import { Random } from "@nextscale/core";
import type { VQVAE } from "@nextscale/tokenizer";
import type { KVCache, VarCondition, VarTransformer } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { type KeepMask, scaleKeepMask } from "./edit-mask.js";
import { filterTopKTopP, sampleRow, sampleTokens, softmax, validateFilter } from "./top-k-top-p.js";

export class GenerationCancelledError extends Error {
  override name = "GenerationCancelledError";
  constructor() {
    super("generation cancelled");
  }
}

export interface ScaleProgress {
  /** Index of the scale just finished (0-based). */
  scale: number;
  /** Number of scales K. */
  scales: number;
  /** Side of the token map just generated. */
  patchNum: number;
  /** Tokens generated so far per image (Σ pn² up to this scale) and in all (L). */
  tokensDone: number;
  tokensTotal: number;
  /** Milliseconds since generation started. */
  elapsedMs: number;
  /** The tokens chosen at this scale, (B · pn²) row-major. */
  indices: Int32Array;
  /** The guided logits of this scale before filtering, (B · pn² · V) row-major. */
  logits: Float32Array;
  /** f̂ so far (B, P, P, Cvae); borrowed: valid only during the callback. */
  fHat: tf.Tensor4D;
  /** Decode f̂ so far to images (B, H, W, 3) in [0, 1] (a coarse-to-fine preview); the caller owns the result. */
  decodePreview(): tf.Tensor4D;
}

export interface GenerateOptions {
  /**
   * Class of each image (its length is the batch size). `numClasses` or −1
   * means unconditional. Omitted: each image's label is drawn uniformly from
   * its own stream (the first draw of `Random.forIndex(seed, i)`).
   */
  labels?: ArrayLike<number>;
  /** Batch size when neither `labels` nor `imageIndices` is given (default 1). */
  batchSize?: number;
  /** Classifier-free guidance strength, reached at the last scale (default 1.5, the official FID setting). */
  cfg?: number;
  /** Keep the k most likely tokens (default 900; 0 = all; 1 = greedy). */
  topK?: number;
  /** Nucleus mass (default 0.96; 0 = off). */
  topP?: number;
  /**
   * Seed of the run (default 0). Image i of the run (its global index) draws
   * from its own generator `Random.forIndex(seed, i)`, so the same seed gives
   * the same image i whatever the batch. Ignored when `rng` is given.
   */
  seed?: number;
  /**
   * Global index of the batch's first image (default 0): row b of the batch is
   * image `firstIndex + b` of the run. Generating images [S, S + n) in batches
   * of any size, in one process or many, gives the same images.
   */
  firstIndex?: number;
  /**
   * Global index of each image of the batch (instead of `firstIndex`; its length
   * is the batch size), e.g. a shard's images K, K + N, K + 2N …
   */
  imageIndices?: ArrayLike<number>;
  /**
   * Your own generators instead of `seed`: a function from an image's global
   * index to its generator (called once per image of the batch, in order, and
   * used as `Random.forIndex(seed, i)` would be: label draw first, then the
   * tokens), or one `Random` shared by the whole batch, consumed as before
   * per-image streams (labels when drawn, then each scale's tokens row by
   * row), so that the images then depend on the batch.
   */
  rng?: Random | ((index: number) => Random);
  /** Gumbel-softmax smoothing of each scale's embeddings (visualisation only; not for FID). */
  moreSmooth?: boolean;
  /**
   * Zero-shot editing: at every scale, tokens where the keep-mask holds come
   * from `indices` (the source image's tokens, one (B or 1, pn²) int tensor
   * per scale, e.g. `vae.imageToIndices(img)`); the rest are generated.
   * `scales` (1 … number of scales; default all) applies the mask at the
   * first `scales` scales only and generates every token of the later ones:
   * with an all-ones mask, variations of the source that keep its coarse
   * structure (its first `scales` token maps) and redraw the details.
   */
  keep?: { indices: tf.Tensor[]; mask: KeepMask; scales?: number };
  /** Called after every scale; may return a promise (awaited). */
  onProgress?: (p: ScaleProgress) => void | Promise<void>;
  /** Abort between scales; the promise rejects with `GenerationCancelledError`. */
  signal?: AbortSignal;
}

export interface GenerateResult {
  /** (B, H, W, 3) in [0, 1]. */
  images: tf.Tensor4D;
  /** The global index of each image (whose stream it drew from). */
  imageIndices: number[];
  /** Chosen tokens per scale, int32 (B, pn²). */
  indices: tf.Tensor2D[];
  /** The labels used (numClasses = unconditional). */
  labels: Int32Array;
  /** f̂ after the last scale (B, P, P, Cvae). */
  fHat: tf.Tensor4D;
}

/**
 * The defaults of `generate` (the official README's FID setting). `seed` is
 * the run's seed and `firstIndex` the global index of the first image: image
 * i draws from `Random.forIndex(seed, i)`.
 */
export const GENERATE_DEFAULTS = Object.freeze({ cfg: 1.5, topK: 900, topP: 0.96, seed: 0, firstIndex: 0 });

/** Check that a VQ-VAE and a VAR belong together (same codebook, width and scales). */
export function checkModelPair(vae: VQVAE, model: VarTransformer): void {
  const a = vae.config;
  const b = model.config;
  const problems: string[] = [];
  if (a.vocabSize !== b.vocabSize) problems.push(`codebook size ${a.vocabSize} vs ${b.vocabSize}`);
  if (a.zChannels !== b.cvae) problems.push(`latent width ${a.zChannels} vs ${b.cvae}`);
  if (a.patchNums.join() !== b.patchNums.join()) problems.push(`patch_nums [${a.patchNums}] vs [${b.patchNums}]`);
  if (problems.length) throw new Error(`the VQ-VAE and the VAR do not belong together: ${problems.join("; ")}`);
}

/**
 * The label `generate` draws for image `index` of a run seeded by `seed` when
 * `labels` are omitted: the first draw of its stream,
 * `Random.forIndex(seed, index).int(numClasses)`.
 */
export function imageLabel(seed: number, index: number, numClasses: number): number {
  return Random.forIndex(seed, index).int(numClasses);
}

/**
 * Resolve the labels of a batch, validating them (−1 → numClasses).
 *
 * `rng`: one generator per image (per-image streams): each one's first draw
 * is its label, `int(numClasses)`, made whether or not `labels` are given (a
 * given label replaces it), so the draws that follow do not depend on how
 * the label was chosen; or one generator shared by the batch, which draws
 * the labels in order only when they are omitted (`batchSize` of them).
 */
export function resolveLabels(opts: Pick<GenerateOptions, "labels" | "batchSize">, numClasses: number, rng: Random | readonly Random[]): Int32Array {
  const perImage = Array.isArray(rng) ? (rng as readonly Random[]) : null;
  const drawn = perImage?.map((r) => r.int(numClasses));
  if (opts.labels !== undefined) {
    const lab = Int32Array.from(opts.labels, (v) => {
      if (!Number.isInteger(v) || v < -1 || v > numClasses) {
        throw new RangeError(`unknown class ${v}: classes are 0…${numClasses - 1} (or ${numClasses} / -1 for unconditional)`);
      }
      return v === -1 ? numClasses : v;
    });
    if (lab.length === 0) throw new RangeError("labels: empty batch");
    if (perImage && perImage.length !== lab.length) throw new RangeError(`${lab.length} labels for ${perImage.length} image streams`);
    return lab;
  }
  if (drawn) return Int32Array.from(drawn);
  const B = opts.batchSize ?? 1;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`batchSize must be a positive integer, got ${B}`);
  return Int32Array.from({ length: B }, () => (rng as Random).int(numClasses));
}

/**
 * The global index of each image of a batch: `imageIndices`, or
 * `firstIndex`, `firstIndex + 1` … for the batch size (from `labels`, else
 * `batchSize`, else 1); checked.
 */
export function resolveImageIndices(opts: Pick<GenerateOptions, "labels" | "batchSize" | "firstIndex" | "imageIndices">): number[] {
  const fromLabels = opts.labels?.length;
  if (opts.imageIndices !== undefined) {
    if (opts.firstIndex !== undefined) throw new RangeError("pass firstIndex or imageIndices, not both");
    const idx = Array.from(opts.imageIndices);
    if (idx.length === 0) throw new RangeError("imageIndices: empty batch");
    idx.forEach((v, b) => {
      if (!(Number.isSafeInteger(v) && v >= 0)) throw new RangeError(`imageIndices[${b}] must be a non-negative safe integer, got ${v}`);
    });
    if (fromLabels !== undefined && fromLabels !== idx.length) throw new RangeError(`${fromLabels} labels but ${idx.length} imageIndices`);
    if (opts.batchSize !== undefined && opts.batchSize !== idx.length) throw new RangeError(`batchSize ${opts.batchSize} but ${idx.length} imageIndices`);
    return idx;
  }
  const first = opts.firstIndex ?? GENERATE_DEFAULTS.firstIndex;
  if (!(Number.isSafeInteger(first) && first >= 0)) throw new RangeError(`firstIndex must be a non-negative safe integer, got ${first}`);
  const B = fromLabels ?? opts.batchSize ?? 1;
  if (fromLabels === 0) throw new RangeError("labels: empty batch");
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`batchSize must be a positive integer, got ${B}`);
  if (!Number.isSafeInteger(first + B - 1)) throw new RangeError(`firstIndex ${first} + batch ${B} exceeds the safe integers`);
  return Array.from({ length: B }, (_, b) => first + b);
}

export async function generate(vae: VQVAE, model: VarTransformer, opts: GenerateOptions = {}): Promise<GenerateResult> {
  checkModelPair(vae, model);
  const run = await settings(model, opts);
  const { indices, fHat } = await predictScales(vae, model, run, opts);
  try {
    return { images: toImages(vae, fHat), imageIndices: run.imageIndices, indices, labels: run.labels, fHat };
  } catch (e) {
    tf.dispose([...indices, fHat]);
    throw e;
  }
}

/** What one generation runs with, resolved and checked. */
interface Run {
  labels: Int32Array;
  cfg: number;
  filter: { topK: number; topP: number };
  /** The global index of each image. */
  imageIndices: number[];
  /** The generator of each image (all the same object for a shared `rng`). */
  rngs: Random[];
  keep: Awaited<ReturnType<typeof prepareKeep>> | null;
}

async function settings(model: VarTransformer, opts: GenerateOptions): Promise<Run> {
  const { patchNums, numClasses, vocabSize: V } = model.config;
  const cfg = opts.cfg ?? GENERATE_DEFAULTS.cfg;
  const filter = { topK: Math.min(opts.topK ?? GENERATE_DEFAULTS.topK, V), topP: opts.topP ?? GENERATE_DEFAULTS.topP };
  if (!Number.isFinite(cfg) || cfg < 0) throw new RangeError(`cfg must be a non-negative number, got ${cfg}`);
  validateFilter(filter);
  const imageIndices = resolveImageIndices(opts);
  let labels: Int32Array;
  let rngs: Random[];
  const rng = opts.rng;
  if (rng !== undefined && typeof rng !== "function") {
    // one generator shared by the batch, consumed as before per-image streams
    labels = resolveLabels({ labels: opts.labels, batchSize: imageIndices.length }, numClasses, rng);
    rngs = new Array<Random>(labels.length).fill(rng);
  } else {
    const seed = opts.seed ?? GENERATE_DEFAULTS.seed;
    if (rng === undefined && !Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    const make = rng ?? ((i: number) => Random.forIndex(seed, i));
    rngs = imageIndices.map((i) => {
      const r = make(i);
      if (typeof r?.random !== "function" || typeof r?.int !== "function") throw new TypeError(`rng(${i}) did not return a Random`);
      return r;
    });
    labels = resolveLabels(opts, numClasses, rngs);
  }
  const keep = opts.keep ? await prepareKeep(opts.keep, labels.length, patchNums) : null;
  return { labels, cfg, filter, imageIndices, rngs, keep };
}

/**
 * The transformer's part: every scale in turn, from the class condition to
 * the final f̂. Owns the condition, the KV cache and the next scale's input,
 * and frees them in one place, before the caller decodes.
 */
async function predictScales(vae: VQVAE, model: VarTransformer, run: Run, opts: GenerateOptions) {
  const { patchNums, numClasses, vocabSize: V, cvae } = model.config;
  const K = patchNums.length;
  const P = patchNums[K - 1];
  const B = run.labels.length;
  const L = patchNums.reduce((s, p) => s + p * p, 0);
  const start = performance.now();
  const cond = model.condition([...run.labels, ...new Array(B).fill(numClasses)]);
  const cache = model.newCache();
  const indices: tf.Tensor2D[] = [];
  let fHat: tf.Tensor4D = tf.zeros([B, P, P, cvae]);
  let x: tf.Tensor3D | null = model.embedFirstScale(cond);
  let tokensDone = 0;
  try {
    for (let k = 0; k < K; k++) {
      if (opts.signal?.aborted) throw new GenerationCancelledError();
      const pn = patchNums[k];
      const ratio = K > 1 ? k / (K - 1) : 0;
      const logits = await guide(model, x!, cond, cache, run.cfg * ratio); // (B·pn²·V) on the host
      x = null; // consumed by guide
      const rawLogits = opts.onProgress ? logits.slice() : logits; // sampling filters the rows in place
      let { idx, h } = sampleScale(vae, logits, B, pn, V, run, ratio, opts.moreSmooth ?? false);
      if (run.keep && k < run.keep.scales) h = applyKeepMask(vae, run.keep, k, idx, h);
      indices.push(tf.tensor2d(idx, [B, pn * pn], "int32"));
      ({ fHat, x } = advance(vae, model, k, fHat, h));
      tokensDone += pn * pn;
      if (opts.onProgress) {
        const f = fHat;
        await opts.onProgress({
          scale: k,
          scales: K,
          patchNum: pn,
          tokensDone,
          tokensTotal: L,
          elapsedMs: performance.now() - start,
          indices: idx,
          logits: rawLogits,
          fHat: f,
          decodePreview: () => toImages(vae, f),
        });
      }
    }
    return { indices, fHat };
  } catch (e) {
    tf.dispose([...indices, fHat]);
    throw e;
  } finally {
    if (x) x.dispose();
    cond.dispose();
    cache.dispose(); // the transformer is done: the decode reuses the KV cache's memory
  }
}

/**
 * Guide: run scale `cache.nextScale` for the doubled batch (x is consumed)
 * and mix its logits, (1 + t)·cond − t·uncond, read back to the host.
 */
async function guide(model: VarTransformer, x: tf.Tensor3D, cond: VarCondition, cache: KVCache, t: number): Promise<Float32Array> {
  const logits = model.forwardScale(x, cond, cache); // (2B, l, V)
  x.dispose();
  const guided = tf.tidy(() => {
    const [c, u] = tf.split(logits, 2, 0);
    return tf.sub(tf.mul(c, 1 + t), tf.mul(u, t)); // (B, l, V)
  });
  logits.dispose();
  try {
    return (await guided.data()) as Float32Array;
  } finally {
    guided.dispose();
  }
}

/** Sample a scale: the tokens (B·pn²) and their embeddings h (B, pn, pn, Cvae). `logits` are filtered in place. */
function sampleScale(
  vae: VQVAE,
  logits: Float32Array,
  B: number,
  pn: number,
  V: number,
  run: Run,
  ratio: number,
  moreSmooth: boolean,
): { idx: Int32Array; h: tf.Tensor4D } {
  if (moreSmooth) return smoothEmbed(vae, logits, B, pn, V, run.filter, ratio, run.rngs);
  const idx = sampleTokens(logits, V, run.filter, run.rngs); // row r draws from image ⌊r / pn²⌋'s stream
  return { idx, h: tf.tidy(() => vae.quantize.embed(tf.tensor2d(idx, [B, pn * pn], "int32"))) };
}

/** Editing: where scale k's keep-mask holds, the source tokens replace the sampled ones (in `idx`) and their embeddings (h is consumed). */
function applyKeepMask(vae: VQVAE, keep: NonNullable<Run["keep"]>, k: number, idx: Int32Array, h: tf.Tensor4D): tf.Tensor4D {
  const m = keep.masks[k];
  const src = keep.indices[k];
  const l = m.length;
  for (let i = 0; i < idx.length; i++) if (m[i % l]) idx[i] = src[i];
  const [B, pn] = h.shape;
  const out = tf.tidy(() => {
    const gt = vae.quantize.embed(tf.tensor2d(src, [B, l], "int32"));
    const mt = tf.tensor4d(Float32Array.from(m), [1, pn, pn, 1]);
    return tf.add(tf.mul(gt, mt), tf.mul(h, tf.sub(1, mt))) as tf.Tensor4D;
  });
  h.dispose();
  return out;
}

/**
 * Advance f̂: f̂ += φ_k(bicubic_up(h)) (h and the old f̂ are consumed), and
 * the next scale's input, the area-downsampled f̂ embedded and doubled for
 * guidance (null after the last scale).
 */
function advance(vae: VQVAE, model: VarTransformer, k: number, fHat: tf.Tensor4D, h: tf.Tensor4D) {
  const { patchNums, cvae } = model.config;
  const K = patchNums.length;
  const { fHat: f2, next } = vae.quantize.nextAutoregressiveInput(k, K, fHat, h);
  h.dispose();
  fHat.dispose();
  let x: tf.Tensor3D | null = null;
  if (k < K - 1) {
    const pn1 = patchNums[k + 1];
    x = tf.tidy(() => {
      const e = model.embedScale(k + 1, tf.reshape(next, [next.shape[0], pn1 * pn1, cvae]));
      return tf.concat([e, e], 0) as tf.Tensor3D; // the unconditional half sees the same tokens
    });
  }
  next.dispose();
  return { fHat: f2, x };
}

/** Decode f̂ to images (B, H, W, 3) in [0, 1]. */
function toImages(vae: VQVAE, fHat: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.mul(tf.add(vae.decode(fHat), 1), 0.5) as tf.Tensor4D);
}

/** Source tokens per scale on the host (broadcast to B rows) and the per-scale masks. */
async function prepareKeep(keep: NonNullable<GenerateOptions["keep"]>, B: number, patchNums: readonly number[]) {
  const P = patchNums[patchNums.length - 1];
  if (keep.mask.size !== P || keep.mask.data.length !== P * P) {
    throw new RangeError(`keep-mask must be ${P}×${P} (the last scale), got size ${keep.mask.size}`);
  }
  if (keep.indices.length !== patchNums.length) {
    throw new RangeError(`keep.indices must hold one token map per scale (${patchNums.length}), got ${keep.indices.length}`);
  }
  const scales = keep.scales ?? patchNums.length;
  if (!Number.isInteger(scales) || scales < 1 || scales > patchNums.length) {
    throw new RangeError(`keep.scales must be an integer from 1 to ${patchNums.length} (the number of scales), got ${keep.scales}`);
  }
  const indices = await Promise.all(keep.indices.map(async (t, k) => {
    const l = patchNums[k] ** 2;
    if (t.rank !== 2 || t.shape[1] !== l || (t.shape[0] !== B && t.shape[0] !== 1)) {
      throw new RangeError(`keep.indices[${k}] must be (${B} or 1, ${l}), got [${t.shape}]`);
    }
    const d = Int32Array.from(await t.data());
    if (t.shape[0] === B) return d;
    const out = new Int32Array(B * l);
    for (let b = 0; b < B; b++) out.set(d, b * l);
    return out;
  }));
  const masks = patchNums.map((pn) => scaleKeepMask(keep.mask, pn, B)); // PyTorch rounds the resize differently for one image and a batch
  return { indices, masks, scales };
}

/**
 * The official `more_smooth` path: top-k/top-p filter the guided logits,
 * draw the indices (reported), then use the expectation of the codebook under
 * gumbel_softmax(logits·(1+ratio), τ = max(0.27·(1−0.95·ratio), 0.005)).
 */
function smoothEmbed(
  vae: VQVAE,
  host: Float32Array,
  B: number,
  pn: number,
  V: number,
  filter: { topK: number; topP: number },
  ratio: number,
  rngs: readonly Random[],
): { idx: Int32Array; h: tf.Tensor4D } {
  const l = pn * pn;
  const rows = B * l;
  const tau = Math.max(0.27 * (1 - ratio * 0.95), 0.005);
  const idx = new Int32Array(rows);
  const soft = new Float32Array(rows * V);
  for (let r = 0; r < rows; r++) {
    const row = host.slice(r * V, (r + 1) * V);
    filterTopKTopP(row, filter);
    const rng = rngs[Math.floor(r / l)]; // the image's own stream
    idx[r] = sampleRow(row, rng); // the official code draws the indices before smoothing
    const g = new Float64Array(V);
    for (let v = 0; v < V; v++) g[v] = (row[v] * (1 + ratio) + rng.gumbel()) / tau;
    soft.set(softmax(g), r * V);
  }
  const h = tf.tidy(() => {
    const y = tf.tensor2d(soft, [rows, V]);
    const e = tf.matMul(y, vae.quantize.embedding.weight.value); // (rows, Cvae)
    return tf.reshape(e, [B, pn, pn, -1]) as tf.Tensor4D;
  });
  return { idx, h };
}
