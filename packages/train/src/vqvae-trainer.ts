/**
 * Stage 1: training the multi-scale VQ-VAE (the official repository ships
 * the model but no trainer for it).
 *
 * One step: the tokenizer's training forward (`VQVAE.forwardTrain`:
 * straight-through f̂, the quantizer's multi-scale vq_loss with β = 0.25 as
 * the official `VectorQuantizer2.forward`), loss = l2Weight·mse(rec, img) +
 * l1Weight·mean|rec − img| + vqWeight·vq_loss, gradients by tfjs autograd,
 * AdamW (src/optim) with gradient-norm clipping; then codebook usage per
 * scale over a window of steps and dead-code restarts from a reservoir of
 * recent quantizer inputs (`CodebookMonitor`).
 *
 * With `gan` (off by default), from step `gan.start` on, the VQGAN
 * adversarial term as taming-transformers adds it: loss += λ·factor·g_loss
 * with g_loss = −mean(D(rec)) and the adaptive weight λ =
 * clamp(‖∇_W nll‖ / (‖∇_W g_loss‖ + 1e-4), 0, 1e4)·weight at the decoder's
 * last layer W (`decoder.conv_out.weight`, nll the reconstruction terms),
 * then one step of the discriminator on the hinge loss of the batch against
 * its (detached) reconstructions (src/discriminator.ts). LPIPS is not part
 * of this trainer.
 */
import { Random, resize2d, stopGradient } from "@nextscale/core";
import { type VQVAE, type VqvaeConfig, vqvaeConfig } from "@nextscale/tokenizer";
import * as tf from "@tensorflow/tfjs-core";
import { accumulateGrads } from "./accumulate.js";
import type { CheckpointableOptimizer, Json } from "./checkpoint/format.js";
import { checkpointPath, latestCheckpoint, loadCheckpoint, saveCheckpoint } from "./checkpoint/index.js";
import { CodebookMonitor, type CodebookState, type ScaleUsage } from "./codebook.js";
import { DataLoader } from "./data/index.js";
import { generatorLoss, hingeDLoss, PatchDiscriminator, vqganAdaptiveWeight } from "./discriminator.js";
import { PeakMemory, yieldToEventLoop } from "./memory.js";
import { AdamW, type AdamWState } from "./optim/adamw.js";
import { paramGroups } from "./optim/param-groups.js";
import { applySchedule } from "./optim/schedule.js";

function concat<T extends Int32Array | Float32Array>(parts: T[], C: { new (n: number): T }): T {
  if (parts.length === 1) return parts[0];
  const out = new C(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface VqvaeTrainerOptions {
  /** Constant learning rate (default 2e-4), unless `schedule` is given. */
  lr?: number;
  /** Learning rate by step (0-based), e.g. `(s) => lrWdAnnealing(s, …).lr`; overrides `lr`. */
  schedule?: (step: number) => number;
  /** AdamW (β1, β2); default (0.9, 0.95) (see the README). */
  betas?: [number, number];
  /** Decoupled weight decay on the decayed group (conv weights, the codebook); default 0. */
  weightDecay?: number;
  /** Clip the total gradient norm to this; ≤ 0 off. Default 2.0 (the official VAR `tclip`). */
  gradClip?: number;
  /** Weight of mse(rec, img); default 1 (the official `VQVAE.forward`'s rec loss). */
  l2Weight?: number;
  /** Weight of mean |rec − img|; default 0. */
  l1Weight?: number;
  /** Weight of the quantizer's vq_loss; default 1. */
  vqWeight?: number;
  /** Dead-code restarts (default on). */
  restarts?: boolean;
  /** Steps without use after which a code is restarted (default 100). */
  deadAfter?: number;
  /** Steps over which per-scale usage is measured (default 100). */
  usageWindow?: number;
  /** Quantizer inputs kept per scale for restarts (default 1024). */
  reservoirSize?: number;
  /** Seed of the trainer's generator (reservoir sampling, restart draws); default 0. */
  seed?: number;
  /**
   * Gradient accumulation: each step's batch runs as this many micro-batches
   * (one tape at a time; the gradients summed, weighted by size), then one
   * AdamW update. Default 1.
   */
  accum?: number;
  /** The optional VQGAN patch discriminator (hinge loss, adaptive weight); off when absent. */
  gan?: GanOptions;
  /**
   * Fine-tune the decoder only (`decoder.*` and `post_quant_conv.*`): the
   * encoder, `quant_conv` and the codebook stay as they are, so every image's
   * token maps, and a VAR trained on them, stay valid. Start from a trained
   * VQ-VAE (e.g. to sharpen it with `gan`). Dead-code restarts are off (they
   * would change the codebook). Default false.
   */
  decoderOnly?: boolean;
  /**
   * A reconstruction loss on what the first scales alone decode to: for each
   * of the first `prefixScales` scales k, mse between the decoding of f̂_k
   * (the partial sum after scale k) and the image, both area-downsampled to
   * the scale's resolution (pn_k · image/latent side), averaged over the
   * scales and weighted by `prefixWeight`. It asks the coarse scales to carry
   * as much of the image as they can (not part of the official recipe).
   * An integer from 0 (off, the default) to K − 1.
   */
  prefixScales?: number;
  /** Weight of the prefix loss (default 1). */
  prefixWeight?: number;
}

/** The parameters `decoderOnly` trains: the decoder and the convolution before it. */
export const isDecoderParameter = (name: string): boolean => name.startsWith("decoder.") || name.startsWith("post_quant_conv.");

export interface GanOptions {
  /** Step (0-based) from which the adversarial terms apply (`disc_start`); default 0. */
  start?: number;
  /** Multiplies the adaptive weight (`disc_weight`); default 0.8, as taming-transformers' VQGAN configs. */
  weight?: number;
  /** Multiplies both adversarial losses once active (`disc_factor`); default 1. */
  factor?: number;
  /** The discriminator's learning rate; default the generator's. */
  lr?: number;
  /** The discriminator's Adam betas; default (0.5, 0.9), as taming-transformers. */
  betas?: [number, number];
  /** Width of the discriminator's first conv (default 64). */
  ndf?: number;
  /** Stride-2 convs of the discriminator (default 3; fewer for small images). */
  layers?: number;
}

export interface VqvaeStepMetrics {
  /** Steps taken, this one included. */
  step: number;
  loss: number;
  /** mse(rec, img). */
  recL2: number;
  /** mean |rec − img|. */
  recL1: number;
  vqLoss: number;
  /** With `prefixScales`: the prefix loss before its weight (mean over those scales). */
  prefixL2?: number;
  /** Total gradient norm before clipping (0 with clipping off). */
  gradNorm: number;
  lr: number;
  /** Per scale (coarse to fine), over the last `usageWindow` steps. */
  usage: ScaleUsage[];
  /** Codes restarted after this step. */
  restarted: number;
  /** Wall time of the step in milliseconds. */
  ms: number;
  /** The most bytes tfjs held in tensors during the step (tape, gradients, moments, weights). */
  peakTensorBytes: number;
  /** With `gan`, once active (step ≥ gan.start): the adversarial terms of this step. */
  gan?: GanStepMetrics;
}

export interface GanStepMetrics {
  /** −mean(D(rec)) before the step. */
  gLoss: number;
  /** The discriminator's hinge loss (times factor). */
  dLoss: number;
  /** The adaptive weight λ (times `weight`). */
  dWeight: number;
  /** Mean logits of real images and of reconstructions. */
  logitsReal: number;
  logitsFake: number;
}

/** The trainer's state beyond the weights, for a checkpoint's optimizer slot. */
export interface VqvaeTrainerState {
  adamw: AdamWState;
  codebook: CodebookState;
  /** With `gan`: the discriminator's weights (PyTorch layout, by state-dict name) and its optimizer. */
  disc?: { weights: Record<string, Float32Array>; adamw: AdamWState };
}

/**
 * PyTorch's default initialisation of the VQ-VAE's layers (convs: weight and
 * bias U(±1/√fan_in), torch's kaiming_uniform(a = √5); GroupNorm weight 1,
 * bias 0), the codebook U(±1/V) (taming-transformers' VectorQuantizer), the
 * usage buffer 0. Seeded: the same seed gives the same weights.
 */
export function initVqvaeForTraining(vae: VQVAE, seed = 0): void {
  let n = 0;
  vae.initParameters((name, p) => {
    const s = [...p.shape];
    const at = seed * 1000 + n++;
    if (name === "quantize.embedding.weight") return tf.randomUniform(s, -1 / s[0], 1 / s[0], "float32", at);
    if (name === "quantize.ema_vocab_hit_SV") return tf.zeros(s);
    const isNorm = /norm[^.]*\.(weight|bias)$/.test(name);
    if (isNorm) return name.endsWith("weight") ? tf.ones(s) : tf.zeros(s);
    const conv = vae.namedParameters().find(([k]) => k === name.replace(/bias$/, "weight"))?.[1];
    const ws = conv ? [...conv.shape] : s;
    const fanIn = ws.slice(1).reduce((a, b) => a * b, 1);
    const b = 1 / Math.sqrt(fanIn);
    return tf.randomUniform(s, -b, b, "float32", at);
  });
}

export class VqvaeTrainer {
  readonly optimizer: AdamW;
  readonly codebook: CodebookMonitor;
  /** Steps taken. */
  step = 0;
  /** The trainer's generator (reservoir and restarts); saved with checkpoints. */
  rng: Random;
  readonly options: Required<Omit<VqvaeTrainerOptions, "schedule" | "gan">> & Pick<VqvaeTrainerOptions, "schedule">;
  /** With `gan`: its options with defaults filled, the discriminator and its optimizer. */
  readonly gan?: Required<GanOptions>;
  readonly discriminator?: PatchDiscriminator;
  readonly discOptimizer?: AdamW;
  private readonly memory = new PeakMemory();

  constructor(
    readonly vae: VQVAE,
    opts: VqvaeTrainerOptions = {},
  ) {
    this.options = {
      lr: opts.lr ?? 2e-4,
      schedule: opts.schedule,
      betas: opts.betas ?? [0.9, 0.95],
      weightDecay: opts.weightDecay ?? 0,
      gradClip: opts.gradClip ?? 2.0,
      l2Weight: opts.l2Weight ?? 1,
      l1Weight: opts.l1Weight ?? 0,
      vqWeight: opts.vqWeight ?? 1,
      restarts: opts.restarts ?? !opts.decoderOnly,
      deadAfter: opts.deadAfter ?? 100,
      usageWindow: opts.usageWindow ?? 100,
      reservoirSize: opts.reservoirSize ?? 1024,
      seed: opts.seed ?? 0,
      accum: opts.accum ?? 1,
      decoderOnly: opts.decoderOnly ?? false,
      prefixScales: opts.prefixScales ?? 0,
      prefixWeight: opts.prefixWeight ?? 1,
    };
    const { prefixScales, prefixWeight } = this.options;
    const K = vae.config.patchNums.length;
    if (!Number.isInteger(prefixScales) || prefixScales < 0 || prefixScales > K - 1) {
      throw new RangeError(`prefixScales must be an integer from 0 to ${K - 1} (the scales before the last), got ${prefixScales}`);
    }
    if (!(prefixWeight >= 0) || !Number.isFinite(prefixWeight)) throw new RangeError(`prefixWeight must be a non-negative number, got ${prefixWeight}`);
    if (this.options.decoderOnly && this.options.restarts) throw new Error("decoderOnly keeps the codebook fixed: dead-code restarts cannot be on with it");
    const trained = this.options.decoderOnly ? vae.namedParameters().filter(([k]) => isDecoderParameter(k)) : vae;
    this.optimizer = new AdamW(paramGroups(trained), { betas: this.options.betas, gradClip: this.options.gradClip });
    const c = vae.config;
    this.codebook = new CodebookMonitor({
      vocabSize: c.vocabSize,
      dim: c.zChannels,
      scales: c.patchNums.length,
      window: this.options.usageWindow,
      deadAfter: this.options.deadAfter,
      reservoirSize: this.options.reservoirSize,
    });
    this.rng = new Random(this.options.seed);
    if (opts.gan) {
      const g = opts.gan;
      this.gan = {
        start: g.start ?? 0,
        weight: g.weight ?? 0.8,
        factor: g.factor ?? 1,
        lr: g.lr ?? this.options.lr,
        betas: g.betas ?? [0.5, 0.9],
        ndf: g.ndf ?? 64,
        layers: g.layers ?? 3,
      };
      this.discriminator = new PatchDiscriminator({ ndf: this.gan.ndf, layers: this.gan.layers });
      this.discriminator.checkImageSide(vae.imageSize());
      this.discriminator.init(this.options.seed);
      this.discOptimizer = new AdamW(paramGroups(this.discriminator), { betas: this.gan.betas, gradClip: 0 });
    }
  }

  /** The learning rate of step `s` (0-based). */
  lrAt(s: number): number {
    return this.options.schedule ? this.options.schedule(s) : this.options.lr;
  }

  /**
   * One training step on images (B, S, S, 3) in [−1, 1] (the caller keeps
   * and disposes them). Leaves no tensors behind.
   */
  async trainStep(images: tf.Tensor4D): Promise<VqvaeStepMetrics> {
    const t0 = performance.now();
    const o = this.options;
    const lr = this.lrAt(this.step);
    applySchedule(this.optimizer.groups, lr, o.weightDecay);
    this.memory.start();
    const B = images.shape[0];
    // per micro-batch: [l2, l1, vq] weighted by its share of the batch, the indices and quantizer inputs per scale
    const gan = this.gan && this.step >= this.gan.start ? this.gan : undefined;
    // per micro-batch: [l2, l1, vq] (+ [g_loss, λ] with the GAN) weighted by its share of the batch, the indices and quantizer inputs per scale
    const parts: { stats: tf.Tensor[]; indices: tf.Tensor[]; inputs: tf.Tensor[]; fake?: tf.Tensor4D; w: number }[] = [];
    const slice = (start: number, end: number) => (o.accum === 1 ? images : (tf.slice(images, [start, 0, 0, 0], [end - start, -1, -1, -1]) as tf.Tensor4D));
    const { value, grads } = accumulateGrads(B, o.accum, (_k, start, end) => {
      const x = slice(start, end);
      try {
        return tf.variableGrads(() => {
          const out = this.vae.forwardTrain(x, { collect: true, features: !!gan, prefixes: o.prefixScales });
          const l2 = out.recLoss;
          const l1 = tf.mean(tf.abs(o.l1Weight > 0 ? tf.sub(out.rec, x) : tf.sub(stopGradient(out.rec), x))) as tf.Scalar;
          const nllOf = (rec: tf.Tensor4D) => {
            let nll = tf.scalar(0);
            if (o.l2Weight > 0) nll = tf.add(nll, tf.mul(tf.mean(tf.squaredDifference(rec, x)), o.l2Weight));
            if (o.l1Weight > 0) nll = tf.add(nll, tf.mul(tf.mean(tf.abs(tf.sub(rec, x))), o.l1Weight));
            return nll as tf.Scalar;
          };
          let loss = tf.mul(out.vqLoss, o.vqWeight);
          if (o.l2Weight > 0) loss = tf.add(loss, tf.mul(l2, o.l2Weight));
          if (o.l1Weight > 0) loss = tf.add(loss, tf.mul(l1, o.l1Weight));
          const extra: tf.Tensor[] = [];
          if (o.prefixScales > 0) {
            const prefix = this.prefixLoss(out.prefixRecs!, x);
            if (o.prefixWeight > 0) loss = tf.add(loss, tf.mul(prefix, o.prefixWeight));
            extra.push(tf.keep(prefix));
          }
          let fake: tf.Tensor4D | undefined;
          if (gan) {
            const D = this.discriminator!;
            const gLoss = generatorLoss(D.forward(out.rec));
            const lambda = stopGradient(vqganAdaptiveWeight(this.vae.decoder.conv_out, D, out.features!, nllOf, gan.weight));
            loss = tf.add(loss, tf.mul(gLoss, tf.mul(lambda, gan.factor)));
            extra.push(tf.keep(gLoss), tf.keep(lambda));
            fake = tf.keep(stopGradient(out.rec) as tf.Tensor4D);
          }
          parts.push({
            stats: [tf.keep(l2), tf.keep(l1), tf.keep(out.vqLoss), ...extra],
            indices: out.indices!.map((t) => tf.keep(t)),
            inputs: o.restarts ? out.inputs!.map((t) => tf.keep(t)) : [],
            fake,
            w: (end - start) / B,
          });
          return loss as tf.Scalar;
        }, this.optimizer.variables());
      } finally {
        if (x !== images) x.dispose();
      }
    });
    const norm = this.optimizer.step(grads);
    const ganStats = gan ? await this.discriminatorStep(images, parts, gan) : undefined;
    const [loss, gradNorm] = await Promise.all([value, norm ?? value].map(async (t) => (await t.data())[0]));
    const stats = parts[0].stats.map(() => 0);
    for (const p of parts) {
      const v = await Promise.all(p.stats.map(async (t) => (await t.data())[0]));
      v.forEach((x, i) => {
        stats[i] += parts.length === 1 ? x : x * p.w;
      });
    }
    const [recL2, recL1, vqLoss] = stats;
    const prefixL2 = o.prefixScales > 0 ? stats[3] : undefined;
    const [gLoss, dWeight] = stats.slice(o.prefixScales > 0 ? 4 : 3);
    const scales = this.vae.config.patchNums.length;
    const hostParts = await Promise.all(
      parts.map(async (p) => ({
        idx: await Promise.all(p.indices.map((t) => t.data() as Promise<Int32Array>)),
        rows: o.restarts ? await Promise.all(p.inputs.map((t) => t.data() as Promise<Float32Array>)) : undefined,
      })),
    );
    const idx = Array.from({ length: scales }, (_, k) => concat(hostParts.map((h) => h.idx[k]), Int32Array));
    const rows = o.restarts ? Array.from({ length: scales }, (_, k) => concat(hostParts.map((h) => h.rows![k]), Float32Array)) : undefined;
    tf.dispose([value, ...parts.flatMap((p) => [...p.stats, ...p.indices, ...p.inputs, ...(p.fake ? [p.fake] : [])]), ...Object.values(grads)]);
    if (norm) norm.dispose();
    const peakTensorBytes = this.memory.peakBytes;
    this.codebook.record(idx, rows, this.rng);
    this.step++;
    const restarted = o.restarts ? await this.restartDeadCodes() : 0;
    return {
      step: this.step,
      loss,
      recL2,
      recL1,
      vqLoss,
      ...(prefixL2 !== undefined ? { prefixL2 } : {}),
      gradNorm: norm ? gradNorm : 0,
      lr,
      usage: this.codebook.usage(),
      restarted,
      ms: performance.now() - t0,
      peakTensorBytes,
      ...(ganStats ? { gan: { gLoss, dWeight, ...ganStats } } : {}),
    };
  }

  /** The prefix loss: mean over the first scales of mse(area(rec_k, r_k), area(img, r_k)), r_k = pn_k · image/latent side. */
  private prefixLoss(recs: tf.Tensor4D[], img: tf.Tensor4D): tf.Scalar {
    const pns = this.vae.config.patchNums;
    const S = img.shape[1];
    const P = pns[pns.length - 1];
    const terms = recs.map((rec, k) => {
      const r = Math.max(1, Math.round((pns[k] * S) / P));
      return tf.mean(tf.squaredDifference(resize2d(rec, r, r, "area"), stopGradient(resize2d(img, r, r, "area"))));
    });
    return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
  }

  /** One discriminator update on the hinge loss of the batch against its detached reconstructions. */
  private async discriminatorStep(images: tf.Tensor4D, parts: { fake?: tf.Tensor4D; w: number }[], gan: Required<GanOptions>): Promise<Omit<GanStepMetrics, "gLoss" | "dWeight">> {
    const D = this.discriminator!;
    const opt = this.discOptimizer!;
    applySchedule(opt.groups, gan.lr, 0);
    const B = images.shape[0];
    const logits: tf.Tensor[] = [];
    const { value, grads } = accumulateGrads(B, parts.length, (k, start, end) => {
      const x = parts.length === 1 ? images : (tf.slice(images, [start, 0, 0, 0], [end - start, -1, -1, -1]) as tf.Tensor4D);
      try {
        return tf.variableGrads(() => {
          const real = D.forward(x);
          const fake = D.forward(parts[k].fake!);
          logits.push(tf.keep(tf.mean(real)), tf.keep(tf.mean(fake)));
          return tf.mul(hingeDLoss(real, fake), gan.factor) as tf.Scalar;
        }, opt.variables());
      } finally {
        if (x !== images) x.dispose();
      }
    });
    opt.step(grads);
    const dLoss = (await value.data())[0];
    let logitsReal = 0;
    let logitsFake = 0;
    for (let k = 0; k < parts.length; k++) {
      logitsReal += (await logits[2 * k].data())[0] * parts[k].w;
      logitsFake += (await logits[2 * k + 1].data())[0] * parts[k].w;
    }
    tf.dispose([value, ...Object.values(grads), ...logits]);
    return { dLoss, logitsReal, logitsFake };
  }

  /** Re-initialise the codes no scale has used for `deadAfter` steps from the reservoir; returns how many. */
  async restartDeadCodes(): Promise<number> {
    const { codes, rows } = this.codebook.restart(this.rng);
    if (!codes.length) return 0;
    const p = this.vae.quantize.embedding.weight;
    const D = this.vae.config.zChannels;
    const w = Float32Array.from((await p.value.data()) as Float32Array);
    for (let i = 0; i < codes.length; i++) w.set(rows.subarray(i * D, i * D + D), codes[i] * D);
    const t = tf.tensor(w, p.internalShape, "float32");
    p.value.assign(t);
    t.dispose();
    return codes.length;
  }

  /** The optimizer and codebook state together, as a checkpoint's optimizer slot. */
  checkpointable(): CheckpointableOptimizer<VqvaeTrainerState> {
    return {
      state: async () => {
        const s: VqvaeTrainerState = { adamw: await this.optimizer.state(), codebook: this.codebook.state() };
        if (this.discriminator) {
          const sd = await this.discriminator.stateDict();
          const weights = Object.fromEntries([...sd].map(([k, t]) => [k, t.data as Float32Array]));
          s.disc = { weights, adamw: await this.discOptimizer!.state() };
        }
        return s;
      },
      loadState: (s) => {
        if (!!s.disc !== !!this.discriminator) {
          throw new Error(s.disc ? "the checkpoint holds a discriminator and this trainer has none (gan options)" : "the checkpoint holds no discriminator and this trainer has one (gan options)");
        }
        this.optimizer.loadState(s.adamw);
        this.codebook.loadState(s.codebook);
        if (s.disc && this.discriminator) {
          for (const [k, p] of this.discriminator.namedParameters()) {
            const w = s.disc.weights[k];
            if (!w) throw new Error(`the checkpoint's discriminator has no "${k}"`);
            p.setTorchHost(w);
          }
          this.discOptimizer!.loadState(s.disc.adamw);
        }
      },
    };
  }

  /** The run's configuration as saved in checkpoints (checked on load). */
  config(): Json {
    // accum is left out: a resumed run may change it (same gradients up to rounding, less memory)
    // decoderOnly and the prefix loss are written only when on: checkpoints from before the options still resume
    const { schedule, accum: _accum, decoderOnly, prefixScales, prefixWeight, ...o } = this.options;
    const trainer = {
      ...o,
      schedule: schedule ? "custom" : "constant",
      ...(this.gan ? { gan: this.gan } : {}),
      ...(decoderOnly ? { decoderOnly } : {}),
      ...(prefixScales > 0 ? { prefixScales, prefixWeight } : {}),
    };
    return { vqvae: { ...this.vae.config } as unknown as Json, trainer: trainer as unknown as Json };
  }

  /** Save weights, AdamW moments, codebook statistics, reservoir, step and generator (atomic). */
  async save(path: string, metrics?: Json): Promise<string> {
    return saveCheckpoint(path, { model: this.vae, optimizer: this.checkpointable(), step: this.step, rng: this.rng, config: this.config(), metrics });
  }

  /** Load a checkpoint saved by `save` into this trainer (config checked); continues bit for bit. */
  async load(path: string, opts: { allowConfigChange?: boolean } = {}): Promise<number> {
    const c = await loadCheckpoint(path, this.vae, { optimizer: this.checkpointable(), config: this.config(), allowConfigChange: opts.allowConfigChange });
    this.step = c.step;
    if (c.rng instanceof Random) this.rng = c.rng;
    return c.step;
  }
}

export interface TrainVqvaeOptions {
  /** Total steps of the run. */
  steps: number;
  /** Folder for checkpoints (`ckpt-<step>.safetensors`); none are written without it. */
  checkpointDir?: string;
  /** Save every this many steps (and always at the end); default 1000. */
  checkpointEvery?: number;
  /** Resume from the latest checkpoint in `checkpointDir` when there is one (default true). */
  resume?: boolean;
  /** Called after every step (awaited: a callback may write samples). */
  onStep?: (m: VqvaeStepMetrics) => unknown;
  /** Called after each checkpoint is written, with its path. */
  onCheckpoint?: (path: string, step: number) => unknown;
  /** Stop after the current step (Ctrl-C): a checkpoint is written first when `checkpointDir` is set. */
  signal?: AbortSignal;
}

/**
 * The training loop: batches from `loader` (epoch = step / batchesPerEpoch,
 * so a resumed run sees the same batches as an unbroken one), `trainStep`
 * on each, checkpoints every `checkpointEvery` steps and at the end.
 * Returns the last step's metrics (undefined when no step was left to take).
 */
export async function trainVqvae(trainer: VqvaeTrainer, loader: DataLoader, opts: TrainVqvaeOptions): Promise<VqvaeStepMetrics | undefined> {
  const every = opts.checkpointEvery ?? 1000;
  if (opts.checkpointDir && (opts.resume ?? true)) {
    const latest = await latestCheckpoint(opts.checkpointDir);
    if (latest) await trainer.load(latest);
  }
  const bpe = loader.batchesPerEpoch;
  let last: VqvaeStepMetrics | undefined;
  const save = async (m: VqvaeStepMetrics) => {
    if (!opts.checkpointDir) return;
    const metrics = { loss: m.loss, recL2: m.recL2, recL1: m.recL1, vqLoss: m.vqLoss, ...(m.prefixL2 !== undefined ? { prefixL2: m.prefixL2 } : {}), perplexity: m.usage.map((u) => u.perplexity), unused: m.usage.map((u) => u.unused) };
    const path = await trainer.save(checkpointPath(opts.checkpointDir, m.step), metrics);
    await opts.onCheckpoint?.(path, m.step);
  };
  run: while (trainer.step < opts.steps && !opts.signal?.aborted) {
    const epoch = Math.floor(trainer.step / bpe);
    for await (const batch of loader.epoch(epoch, trainer.step % bpe)) {
      const { images, labels } = DataLoader.toTensors(batch);
      try {
        last = await trainer.trainStep(images);
      } finally {
        tf.dispose([images, labels]);
      }
      await opts.onStep?.(last);
      await yieldToEventLoop(); // lets a signal handler (Ctrl-C) run: on wasm a step may never leave the microtask queue
      const stop = !!opts.signal?.aborted;
      if (last.step % every === 0 || last.step === opts.steps || stop) await save(last);
      if (trainer.step >= opts.steps || stop) break run;
    }
  }
  return last;
}

/** A small VQ-VAE config for tests and toy runs (16 px images: 4× downsampling, patch_nums 1, 2, 4). */
export function tinyVqvaeConfig(overrides: Partial<VqvaeConfig> = {}): VqvaeConfig {
  return vqvaeConfig({ ch: 32, chMult: [1, 1, 2], numResBlocks: 1, usingSa: false, usingMidSa: false, vocabSize: 64, zChannels: 8, patchNums: [1, 2, 4], ...overrides });
}
