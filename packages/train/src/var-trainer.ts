/**
 * Stage 2: the VAR transformer trained on a frozen VQ-VAE's token maps, as
 * `VARTrainer.train_step` in the official `trainer.py` with the recipe of
 * `train.py` / `utils/arg_util.py`:
 *
 * - teacher forcing: the input is the VQ-VAE's `idxBl_to_var_input` of the
 *   ground-truth token maps, the target their concatenation (B, L);
 * - class dropout (`cond_drop_rate`, default the model's 0.1) in the
 *   forward, drawn from a seeded core `Random`;
 * - the loss: cross-entropy with label smoothing (`--ls`, default 0 here as
 *   in `arg_util.py`), each token weighted 1/L, summed, averaged over the batch;
 * - AdamW with the official param groups (wd 0.05 on the decayed group),
 *   β (0.9, 0.95), gradient clipping at 2.0, lr 1e-4·batch/256, warm-up
 *   ep/50 epochs from 0.005×, `lin0` down to 0.01×.
 *
 * - drop path (stochastic depth) at the official `build_vae_var` rate
 *   0.1·depth/24, rising linearly over the blocks, from the same generator.
 *
 * Not modelled: progressive training (`pg`, off by default), mixed
 * precision and gradient accumulation.
 *
 * Logged as the official trainer logs: the mean unsmoothed cross-entropy
 * (`Lm`), the last scale's (`Lt`), token accuracy in % (`Accm`, `Acct`),
 * per scale (`L_<reso>`, `acc_<reso>`), the gradient norm before clipping.
 */
import { Random, type RandomState } from "@nextscale/core";
import type { VQVAE } from "@nextscale/tokenizer";
import { type VarTransformer, varLoss } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { accumulateGrads } from "./accumulate.js";
import { checkpointPath, loadCheckpoint, saveCheckpoint } from "./checkpoint/files.js";
import type { Json } from "./checkpoint/format.js";
import { PeakMemory, yieldToEventLoop } from "./memory.js";
import type { AdamW } from "./optim/adamw.js";
import { createOfficialOptimizer } from "./optim/official.js";
import type { OfficialSchedule, ScheduleType } from "./optim/schedule.js";
import { type TokenBatch, type TokenMaps, tokenBatch } from "./token-cache.js";

export interface VarTrainerOptions {
  /** Epochs of the run (official `ep`, 250): sets the schedule's length. */
  epochs: number;
  /** Iterations per epoch (with `fit`: ceil(dataset / batch)). */
  itersPerEpoch: number;
  /** Global batch size: peak lr = baseLr·batch/256 unless `peakLr`. */
  batchSize: number;
  /** Official `tblr` 1e-4. */
  baseLr?: number;
  peakLr?: number;
  /** Official 0.05. */
  wd?: number;
  wdEnd?: number;
  /** Official 2.0; ≤ 0 turns clipping off. */
  gradClip?: number;
  /** Warm-up epochs (0: epochs/50, official). */
  warmupEpochs?: number;
  sche?: ScheduleType;
  wp0?: number;
  wpe?: number;
  /** Class dropout (official 0.1; default the model's `condDropRate`). */
  condDropRate?: number;
  /** Drop path rate of the last block (official `build_vae_var`: 0.1·depth/24). */
  dropPathRate?: number;
  /** Label smoothing ε of the training loss (official `--ls`, default 0). */
  labelSmoothing?: number;
  /** Seed of class dropout and data order (default 0). */
  seed?: number;
  /**
   * Gradient accumulation: each step's batch runs as this many micro-batches
   * (one tape at a time, gradients summed weighted by size), then one AdamW
   * update; the lr still follows `batchSize`. Default 1.
   */
  accum?: number;
  /**
   * Activation checkpointing: the tape keeps each transformer block's input
   * only and the backward pass runs the block again (the transformer's
   * `recompute`), trading one more forward of the blocks for less memory.
   * The same losses and gradients. Default off.
   */
  recompute?: boolean;
}

/** What one training step reports. */
export interface VarStepResult {
  /** The step's index (the global iteration it ran at). */
  step: number;
  /** The optimized loss (smoothed CE, 1/L per token, batch mean). */
  loss: number;
  /** Mean unsmoothed CE over all tokens (official `Lm`). */
  meanLoss: number;
  /** Unsmoothed CE of the last scale (`Lt`). */
  tailLoss: number;
  /** Token accuracy over all tokens, in % (`Accm`). */
  accuracy: number;
  /** Token accuracy of the last scale, in % (`Acct`). */
  tailAccuracy: number;
  /** Per scale: unsmoothed CE and accuracy in %. */
  scaleLoss: number[];
  scaleAccuracy: number[];
  /** Total gradient norm before clipping (NaN when clipping is off). */
  gradNorm: number;
  lr: number;
  weightDecay: number;
  /** The most bytes tfjs held in tensors during the step (tape, gradients, moments, weights). */
  peakTensorBytes: number;
}

/** `VarTrainer.fit`'s options. */
export interface VarFitOptions {
  /** Train up to this step (default the run's last). */
  until?: number;
  /** Folder for checkpoints (`ckpt-<step>.safetensors`); none are written without it. */
  checkpointDir?: string;
  /** Save every this many steps (0: only at the end; default 0). */
  checkpointEvery?: number;
  /** Called after every step (awaited: a callback may draw samples). */
  onStep?: (r: VarStepResult) => unknown;
  /** Called after each checkpoint is written, with its path. */
  onCheckpoint?: (path: string, step: number) => unknown;
  /** Stop after the current step (Ctrl-C): a checkpoint is written first when `checkpointDir` is set. */
  signal?: AbortSignal;
}

/** The RNG of a run: class dropout and drop path draw from `dropout`; the data order of epoch e is a shuffle by `Random.forIndex(seed, e)`. */
export interface VarTrainerRng {
  dropout: Random;
}

type ResolvedOptions = Required<Omit<VarTrainerOptions, "peakLr" | "wdEnd">> & { peakLr: number; wdEnd: number };

export class VarTrainer {
  readonly optimizer: AdamW;
  readonly schedule: OfficialSchedule;
  readonly options: ResolvedOptions;
  /** Steps taken (the next step's global iteration). */
  step = 0;
  rng: VarTrainerRng;
  private readonly memory = new PeakMemory();

  constructor(
    readonly model: VarTransformer,
    readonly vqvae: VQVAE,
    opts: VarTrainerOptions,
  ) {
    const pv = vqvae.config.patchNums;
    const pm = model.config.patchNums;
    if (pv.length !== pm.length || pv.some((p, i) => p !== pm[i])) throw new Error(`VarTrainer: the VQ-VAE's patch_nums [${pv}] differ from the VAR's [${pm}]`);
    if (vqvae.config.vocabSize !== model.config.vocabSize || vqvae.config.zChannels !== model.config.cvae) {
      throw new Error(`VarTrainer: the VQ-VAE (V ${vqvae.config.vocabSize}, Cvae ${vqvae.config.zChannels}) does not match the VAR (V ${model.config.vocabSize}, Cvae ${model.config.cvae})`);
    }
    const o: ResolvedOptions = {
      epochs: opts.epochs,
      itersPerEpoch: opts.itersPerEpoch,
      batchSize: opts.batchSize,
      baseLr: opts.baseLr ?? 1e-4,
      peakLr: opts.peakLr ?? ((opts.baseLr ?? 1e-4) * opts.batchSize) / 256,
      wd: opts.wd ?? 0.05,
      wdEnd: opts.wdEnd ?? 0,
      gradClip: opts.gradClip ?? 2.0,
      warmupEpochs: opts.warmupEpochs ?? 0,
      sche: opts.sche ?? "lin0",
      wp0: opts.wp0 ?? 0.005,
      wpe: opts.wpe ?? 0.01,
      condDropRate: opts.condDropRate ?? model.config.condDropRate,
      dropPathRate: opts.dropPathRate ?? (0.1 * model.config.depth) / 24,
      labelSmoothing: opts.labelSmoothing ?? 0,
      seed: opts.seed ?? 0,
      accum: opts.accum ?? 1,
      recompute: opts.recompute ?? false,
    };
    this.options = o;
    const { optimizer, schedule } = createOfficialOptimizer(model, {
      epochs: o.epochs,
      itersPerEpoch: o.itersPerEpoch,
      peakLr: o.peakLr,
      wd: o.wd,
      wdEnd: o.wdEnd,
      warmupEpochs: o.warmupEpochs,
      sche: o.sche,
      wp0: o.wp0,
      wpe: o.wpe,
      gradClip: o.gradClip,
    });
    this.optimizer = optimizer;
    this.schedule = schedule;
    this.rng = { dropout: Random.forIndex(o.seed, 0) };
  }

  /** Total steps of the run (epochs · itersPerEpoch). */
  get totalSteps(): number {
    return this.options.epochs * this.options.itersPerEpoch;
  }

  /** The run's config as saved in checkpoints (checked again on resume). */
  config(): Json {
    const c = this.model.config;
    return {
      model: { ...c, patchNums: [...c.patchNums] } as unknown as Json,
      vqvae: { patchNums: [...this.vqvae.config.patchNums], vocabSize: this.vqvae.config.vocabSize, zChannels: this.vqvae.config.zChannels },
      // accum and recompute are left out: a resumed run may change them (same gradients, less memory)
      train: Object.fromEntries(Object.entries(this.options).filter(([k]) => k !== "accum" && k !== "recompute")) as unknown as Json,
    };
  }

  /**
   * One training step on a batch of token maps: teacher-forced forward with
   * class dropout, the loss, gradients, clipping, AdamW at the scheduled lr.
   */
  async trainStep(batch: TokenBatch): Promise<VarStepResult> {
    const { model, vqvae, options: o } = this;
    const pns = model.config.patchNums;
    const B = batch.labels.length;
    if (batch.scales.length !== pns.length) throw new Error(`trainStep: ${batch.scales.length} token maps, the model has ${pns.length} scales`);
    const L = model.L;
    const gt = new Int32Array(B * L);
    pns.forEach((pn, k) => {
      const n = pn * pn;
      const s = batch.scales[k];
      if (s.length !== B * n) throw new Error(`trainStep: scale ${k} has ${s.length} indices, expected B·pn² = ${B}·${n}`);
      const [begin] = model.beginEnds[k];
      for (let b = 0; b < B; b++) gt.set(s.subarray(b * n, (b + 1) * n), b * L + begin);
    });
    const it = this.step;
    const { lr, weightDecay } = this.schedule.apply(this.optimizer, it);
    this.memory.start();
    const xIn = tf.tidy(() => vqvae.indicesToVarInput(pns.map((pn, k) => tf.tensor2d(batch.scales[k], [B, pn * pn], "int32"))));
    const random = () => this.rng.dropout.random();
    const host: { nll: Float32Array; hit: Float32Array }[] = [];
    const stats: tf.Tensor[] = [];
    const { value, grads } = accumulateGrads(B, o.accum, (_k, start, end) => {
      const n = end - start;
      const whole = n === B;
      const labels = whole ? batch.labels : batch.labels.subarray(start, end);
      const x = whole ? xIn : tf.slice(xIn, [start, 0, 0], [n, -1, -1]);
      const target = whole ? gt : gt.subarray(start * L, end * L);
      let logits: tf.Tensor3D | undefined;
      try {
        const r = tf.variableGrads(() => {
          logits = tf.keep(model.forward(labels, x, { condDropRate: o.condDropRate, dropPathRate: o.dropPathRate, random, recompute: o.recompute }));
          return varLoss(logits, target, { labelSmoothing: o.labelSmoothing });
        }, this.optimizer.variables());
        const lg = logits as tf.Tensor3D;
        stats.push(
          ...tf.tidy(() => {
            const idx = tf.tensor2d(target, [n, L], "int32");
            const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(lg), tf.oneHot(idx, lg.shape[2])), -1));
            return [nll, tf.cast(tf.equal(tf.argMax(lg, -1), idx), "float32")];
          }),
        );
        return r;
      } finally {
        logits?.dispose();
        if (x !== xIn) x.dispose();
      }
    });
    const norm = this.optimizer.step(grads);
    const [lossV, normV] = await Promise.all([value.data(), norm ? norm.data() : Promise.resolve([Number.NaN])]);
    for (let i = 0; i < stats.length; i += 2) host.push({ nll: (await stats[i].data()) as Float32Array, hit: (await stats[i + 1].data()) as Float32Array });
    tf.dispose([xIn, value, ...stats, ...(norm ? [norm] : []), ...Object.values(grads)]);
    const peakTensorBytes = this.memory.peakBytes;
    const nll = host.length === 1 ? host[0].nll : Float32Array.from(host.flatMap((h) => [...h.nll]));
    const hit = host.length === 1 ? host[0].hit : Float32Array.from(host.flatMap((h) => [...h.hit]));
    const scaleLoss: number[] = [];
    const scaleAccuracy: number[] = [];
    let sumNll = 0;
    let sumHit = 0;
    for (const [begin, end] of model.beginEnds) {
      let sn = 0;
      let sh = 0;
      for (let b = 0; b < B; b++) {
        for (let t = begin; t < end; t++) {
          sn += nll[b * L + t];
          sh += hit[b * L + t];
        }
      }
      sumNll += sn;
      sumHit += sh;
      scaleLoss.push(sn / (B * (end - begin)));
      scaleAccuracy.push((100 * sh) / (B * (end - begin)));
    }
    this.step += 1;
    return {
      step: it,
      loss: lossV[0],
      meanLoss: sumNll / (B * L),
      tailLoss: scaleLoss[scaleLoss.length - 1],
      accuracy: (100 * sumHit) / (B * L),
      tailAccuracy: scaleAccuracy[scaleAccuracy.length - 1],
      scaleLoss,
      scaleAccuracy,
      gradNorm: normV[0],
      lr,
      weightDecay,
      peakTensorBytes,
    };
  }

  /** The items of step `step` (global): epoch e = ⌊step / itersPerEpoch⌋ shuffled by `Random.forIndex(seed, e)`; the last batch filled from the epoch's start (official fill_last). */
  batchIndices(count: number, step: number): number[] {
    const { itersPerEpoch, batchSize, seed } = this.options;
    const epoch = Math.floor(step / itersPerEpoch);
    const order = shuffled(count, Random.forIndex(seed + 1, epoch));
    const start = (step % itersPerEpoch) * batchSize;
    return Array.from({ length: batchSize }, (_, i) => order[(start + i) % count]);
  }

  /**
   * Train on `tokens` from the current step to `until` (default the run's
   * last step): a checkpoint every `checkpointEvery` steps and at the end
   * when `checkpointDir` is given. Returns the steps' results.
   */
  async fit(
    tokens: TokenMaps,
    opts: VarFitOptions = {},
  ): Promise<VarStepResult[]> {
    const until = Math.min(opts.until ?? this.totalSteps, this.totalSteps);
    const out: VarStepResult[] = [];
    const every = opts.checkpointEvery ?? 0;
    if (opts.checkpointDir) await (await import("node:fs/promises")).mkdir(opts.checkpointDir, { recursive: true });
    while (this.step < until && !opts.signal?.aborted) {
      const r = await this.trainStep(tokenBatch(tokens, this.batchIndices(tokens.count, this.step)));
      out.push(r);
      await opts.onStep?.(r);
      await yieldToEventLoop(); // lets a signal handler (Ctrl-C) run: on wasm a step may never leave the microtask queue
      const stop = !!opts.signal?.aborted;
      if (opts.checkpointDir && ((every > 0 && this.step % every === 0) || this.step === until || stop)) {
        const path = await this.save(checkpointPath(opts.checkpointDir, this.step), { loss: r.loss, meanLoss: r.meanLoss, accuracy: r.accuracy });
        await opts.onCheckpoint?.(path, this.step);
      }
    }
    return out;
  }

  /** Save model, optimizer state, step, RNG state and config (atomic). */
  async save(path: string, metrics?: Json): Promise<string> {
    return saveCheckpoint(path, { model: this.model, optimizer: this.optimizer, step: this.step, rng: { dropout: this.rng.dropout }, config: this.config(), metrics });
  }

  /**
   * Continue a run from a checkpoint: the model (declared, e.g.
   * `new VarTransformer(config)`) gets the weights, the trainer the
   * optimizer state, step and RNG; the options must equal the saved ones.
   */
  static async resume(path: string, model: VarTransformer, vqvae: VQVAE, opts: VarTrainerOptions): Promise<VarTrainer> {
    const trainer = new VarTrainer(model, vqvae, opts);
    const loaded = await loadCheckpoint(path, model, { optimizer: trainer.optimizer, config: trainer.config() });
    trainer.step = loaded.step;
    const rng = loaded.rng as Record<string, Random> | undefined;
    if (!rng?.dropout) throw new Error(`${path}: no RNG state "dropout" in the checkpoint`);
    trainer.rng = { dropout: rng.dropout };
    return trainer;
  }

  /** The RNG state (plain data). */
  rngState(): { dropout: RandomState } {
    return { dropout: this.rng.dropout.getState() };
  }
}

/** Fisher–Yates with `rng.int`. */
function shuffled(n: number, rng: Random): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
