/**
 * A scaling ladder (the VAR paper §4, "scaling laws"): one VAR per depth
 * with the official width rule (width 64·depth, heads = depth), all trained
 * on the same token maps with the same recipe and a fixed budget per model
 * (images seen, or training FLOPs 6·N·T), then evaluated on a held-out
 * split: mean cross-entropy and token error rate over all scales and over
 * the last scale (the paper's two panels).
 *
 * Each run lives in `<dir>/d<depth>/`: `metrics.jsonl` (one "step" line per
 * step: loss and compute so far), the newest checkpoint while it trains,
 * and `run.json` once it is evaluated. Calling `runScalingLadder` again
 * skips finished runs and resumes the unfinished one from its checkpoint.
 *
 * Node only (`node:fs`).
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Random } from "@nextscale/core";
import type { VQVAE } from "@nextscale/tokenizer";
import { initWeights, VarTransformer as VarModel, type VarTransformer, varConfig } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { latestCheckpoint } from "../checkpoint/files.js";
import { MetricsLog, readMetricsLog } from "../metrics-log.js";
import { type TokenMaps, tokenBatch } from "../token-cache.js";
import { VarTrainer, type VarTrainerOptions } from "../var-trainer.js";
import { type CurvePoint, trainingFlops } from "./power-law.js";

/** The budget of every run: images seen (× tokens per image = tokens), or training FLOPs. */
export type LadderBudget = { images: number } | { flops: number };

/** Held-out metrics of a model. */
export interface VarEvaluation {
  /** Mean cross-entropy over every token of every scale (nats). */
  loss: number;
  /** Mean cross-entropy of the last scale's tokens. */
  tailLoss: number;
  /** Fraction of tokens whose argmax is wrong, all scales (0…1). */
  errorRate: number;
  /** The same for the last scale. */
  tailErrorRate: number;
  /** Images evaluated. */
  images: number;
}

/** One finished rung (`run.json`). */
export interface LadderRun {
  depth: number;
  width: number;
  heads: number;
  /** All parameters (the paper counts them all, embeddings included). */
  params: number;
  steps: number;
  batchSize: number;
  /** Tokens per image (L, the sum of pn²). */
  tokensPerImage: number;
  /** Tokens seen in training: steps · batch · L. */
  tokens: number;
  /** Training compute, 6·N·T FLOPs. */
  flops: number;
  /** Held-out evaluation at the end. */
  test: VarEvaluation;
  /** The training curve: compute so far and the step's mean training loss (smoothed over the last steps). */
  curve: CurvePoint[];
  /** Seconds of training in the process(es) that ran it. */
  trainSeconds: number;
}

export interface LadderOptions {
  vqvae: VQVAE;
  train: TokenMaps;
  test: TokenMaps;
  depths: readonly number[];
  budget: LadderBudget;
  /** The folder of the runs (`d<depth>/` each). */
  dir: string;
  /** Images per step (default 32). */
  batchSize?: number;
  /** Peak learning rate (default 8e-4, the default model's). */
  lr?: number;
  /** Warm-up as a fraction of the run (default 0.05). */
  warmupFraction?: number;
  /** Seed of init, data order and dropout (default 0). */
  seed?: number;
  /** A checkpoint every this many steps (default 50; also at the end and when stopped). */
  checkpointEvery?: number;
  /** Images per evaluation batch (default 64). */
  evalBatchSize?: number;
  /** Stop after the current step (Ctrl-C); the run in progress keeps a checkpoint. */
  signal?: AbortSignal;
  /** Progress: a run starting or resuming, a step, an evaluation, a run done or read from its run.json. */
  onEvent?: (e: LadderEvent) => void;
}

export type LadderEvent =
  | { kind: "start"; depth: number; params: number; steps: number; fromStep: number }
  | { kind: "step"; depth: number; step: number; steps: number; loss: number }
  | { kind: "eval"; depth: number }
  | { kind: "done"; run: LadderRun; cached: boolean };

/** The ladder's VAR config for a depth (the official rule: width 64·depth, heads = depth). */
export function ladderConfig(depth: number, vqvae: VQVAE, numClasses: number) {
  const c = vqvae.config;
  return varConfig({ depth, embedDim: 64 * depth, numHeads: depth, numClasses, patchNums: c.patchNums, vocabSize: c.vocabSize, cvae: c.zChannels });
}

/** Parameters of the ladder's model of a depth (built and freed). */
export function ladderParams(depth: number, vqvae: VQVAE, numClasses: number): number {
  const m = new VarModel(ladderConfig(depth, vqvae, numClasses));
  const n = m.numParameters();
  m.dispose();
  return n;
}

/** Steps of a run with `params` parameters under `budget` (at least 2). */
export function budgetSteps(budget: LadderBudget, params: number, batchSize: number, tokensPerImage: number): number {
  const images = "images" in budget ? budget.images : budget.flops / trainingFlops(params, tokensPerImage);
  return Math.max(2, Math.round(images / batchSize)); // the official schedule needs 2 steps at least
}

/** Held-out loss and token error rate of `model` on `tokens` (no class dropout, no drop path). */
export async function evaluateVar(model: VarTransformer, vqvae: VQVAE, tokens: TokenMaps, batchSize = 64): Promise<VarEvaluation> {
  const pns = model.config.patchNums;
  const L = model.L;
  const [tailBegin, tailEnd] = model.beginEnds[pns.length - 1];
  let nll = 0;
  let miss = 0;
  let tailNll = 0;
  let tailMiss = 0;
  for (let start = 0; start < tokens.count; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, tokens.count - start) }, (_, i) => start + i);
    const batch = tokenBatch(tokens, idx);
    const B = idx.length;
    const gt = new Int32Array(B * L);
    pns.forEach((pn, k) => {
      const n = pn * pn;
      const [begin] = model.beginEnds[k];
      for (let b = 0; b < B; b++) gt.set(batch.scales[k].subarray(b * n, (b + 1) * n), b * L + begin);
    });
    const [nllT, missT] = tf.tidy(() => {
      const x = vqvae.indicesToVarInput(pns.map((pn, k) => tf.tensor2d(batch.scales[k], [B, pn * pn], "int32")));
      const logits = model.forward(batch.labels, x);
      const target = tf.tensor2d(gt, [B, L], "int32");
      const nl = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(target, logits.shape[2])), -1));
      return [nl, tf.cast(tf.notEqual(tf.argMax(logits, -1), target), "float32")];
    });
    const [a, m] = [(await nllT.data()) as Float32Array, (await missT.data()) as Float32Array];
    tf.dispose([nllT, missT]);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < L; t++) {
        nll += a[b * L + t];
        miss += m[b * L + t];
        if (t >= tailBegin && t < tailEnd) {
          tailNll += a[b * L + t];
          tailMiss += m[b * L + t];
        }
      }
    }
  }
  const n = tokens.count;
  const tail = tailEnd - tailBegin;
  return { loss: nll / (n * L), tailLoss: tailNll / (n * tail), errorRate: miss / (n * L), tailErrorRate: tailMiss / (n * tail), images: n };
}

/** Mean of the last `w` values up to each index: the curve drawn for a run (one step's loss is noisy). */
function trailingMean(v: readonly number[], w: number): number[] {
  let s = 0;
  return v.map((x, i) => {
    s += x;
    if (i >= w) s -= v[i - w];
    return s / Math.min(i + 1, w);
  });
}

/** Every run's file names: what a finished run keeps. */
const RUN_JSON = "run.json";

/** A finished run of this ladder's settings, or undefined (none, or made with other settings). */
function readRun(dir: string, want: Pick<LadderRun, "depth" | "steps" | "batchSize">): LadderRun | undefined {
  const path = join(dir, RUN_JSON);
  if (!existsSync(path)) return undefined;
  const r = JSON.parse(readFileSync(path, "utf8")) as LadderRun;
  return r.depth === want.depth && r.steps === want.steps && r.batchSize === want.batchSize ? r : undefined;
}

function removeCheckpoints(dir: string, keep?: string): void {
  for (const n of readdirSync(dir)) if (/^ckpt-\d+\.safetensors$/.test(n) && join(dir, n) !== keep) rmSync(join(dir, n), { force: true });
}

/**
 * Train and evaluate every depth of the ladder (smallest budget first as
 * given), skipping runs already finished in `dir` and resuming one stopped
 * part-way. Returns the finished runs in the order of `depths` (fewer when
 * stopped by `signal`).
 */
export async function runScalingLadder(o: LadderOptions): Promise<LadderRun[]> {
  const batchSize = o.batchSize ?? 32;
  const seed = o.seed ?? 0;
  const every = o.checkpointEvery ?? 50;
  const numClasses = o.train.numClasses;
  const tokensPerImage = o.train.patchNums.reduce((a, p) => a + p * p, 0);
  const pv = o.vqvae.config.patchNums;
  if (o.train.patchNums.join() !== pv.join() || o.test.patchNums.join() !== pv.join()) throw new Error(`runScalingLadder: the token maps' patch_nums differ from the VQ-VAE's [${pv}]`);
  const out: LadderRun[] = [];
  for (const depth of o.depths) {
    if (o.signal?.aborted) break;
    const dir = join(o.dir, `d${depth}`);
    const config = ladderConfig(depth, o.vqvae, numClasses);
    const params = ladderParams(depth, o.vqvae, numClasses);
    const steps = budgetSteps(o.budget, params, batchSize, tokensPerImage);
    const done = readRun(dir, { depth, steps, batchSize });
    if (done) {
      out.push(done);
      o.onEvent?.({ kind: "done", run: done, cached: true });
      continue;
    }
    const options: VarTrainerOptions = {
      epochs: 1,
      itersPerEpoch: steps,
      batchSize,
      peakLr: o.lr ?? 8e-4,
      warmupEpochs: o.warmupFraction ?? 0.05,
      seed,
    };
    const resumeFrom = await latestCheckpoint(dir);
    let trainer: VarTrainer;
    if (resumeFrom) {
      trainer = await VarTrainer.resume(resumeFrom, new VarModel(config), o.vqvae, options);
    } else {
      const model = new VarModel(config);
      initWeights(model, new Random(seed));
      trainer = new VarTrainer(model, o.vqvae, options);
      rmSync(join(dir, "metrics.jsonl"), { force: true }); // a fresh run: no curve of an earlier one
    }
    const log = new MetricsLog(join(dir, "metrics.jsonl"));
    o.onEvent?.({ kind: "start", depth, params, steps, fromStep: trainer.step });
    const t0 = performance.now();
    const stepFlops = trainingFlops(params, batchSize * tokensPerImage);
    let lastCkpt = resumeFrom;
    try {
      await trainer.fit(o.train, {
        checkpointDir: dir,
        checkpointEvery: every,
        signal: o.signal,
        onStep: (r) => {
          log.write("step", { step: r.step + 1, loss: r.meanLoss, tailLoss: r.tailLoss, compute: stepFlops * (r.step + 1) });
          o.onEvent?.({ kind: "step", depth, step: r.step + 1, steps, loss: r.meanLoss });
        },
        onCheckpoint: (path) => {
          removeCheckpoints(dir, path); // the newest is all a resume needs
          lastCkpt = path;
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      if (trainer.step < steps) {
        log.write("end", { step: trainer.step, stopped: true, seconds, checkpoint: lastCkpt ?? null });
        break;
      }
      o.onEvent?.({ kind: "eval", depth });
      const test = await evaluateVar(trainer.model, o.vqvae, o.test, o.evalBatchSize ?? 64);
      const records = readMetricsLog(log.path).filter((r) => r.event === "step" && typeof r.step === "number" && r.step <= steps);
      const earlier = readMetricsLog(log.path).filter((r) => r.event === "end" && typeof r.seconds === "number");
      const smooth = trailingMean(
        records.map((r) => r.loss as number),
        Math.max(1, Math.round(steps / 20)),
      );
      const run: LadderRun = {
        depth,
        width: config.embedDim,
        heads: config.numHeads,
        params,
        steps,
        batchSize,
        tokensPerImage,
        tokens: steps * batchSize * tokensPerImage,
        flops: stepFlops * steps,
        test,
        curve: records.map((r, i) => ({ compute: r.compute as number, loss: smooth[i] })),
        trainSeconds: seconds + earlier.reduce((a, r) => a + (r.seconds as number), 0),
      };
      writeFileSync(join(dir, RUN_JSON), `${JSON.stringify(run, null, 1)}\n`);
      removeCheckpoints(dir); // finished: run.json is what a rerun reads
      out.push(run);
      o.onEvent?.({ kind: "done", run, cached: false });
    } finally {
      trainer.optimizer.dispose();
      trainer.model.dispose();
    }
  }
  return out;
}
