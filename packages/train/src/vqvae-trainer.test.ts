/**
 * Stage-1 training: one step (losses, grad norm, lr, no leaked tensors),
 * codebook usage and dead-code restarts on a collapsed codebook, bit-for-bit
 * resume through a checkpoint, and a short run on Fashion-MNIST that drives
 * the reconstruction loss down. Tiny configs: the whole file runs in about a
 * minute on wasm, plus the 200-step run (see its timeout).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES } from "@nextscale/test-utils";
import { VQVAE } from "@nextscale/tokenizer";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latestCheckpoint } from "./checkpoint/index.js";
import type { ScaleUsage } from "./codebook.js";
import { DataLoader, FASHION_MNIST_CLASSES, IdxDataset } from "./data/index.js";
import { initVqvaeForTraining, tinyVqvaeConfig, trainVqvae, type VqvaeStepMetrics, VqvaeTrainer, type VqvaeTrainerOptions } from "./vqvae-trainer.js";

const dir = join(FIXTURES, "fashion-mnist-slice");
// cpu and webgpu (SwiftShader in CI) run these tiny kernels 5-10× slower than wasm: shorter runs on 4-image batches there.
let fast = true;
const SLOW_TIMEOUT = 400_000;
let data: IdxDataset;
let batches: tf.Tensor4D[] = [];

beforeAll(async () => {
  fast = tf.getBackend() === "wasm";
  console.log(`[vqvae-trainer] backend ${tf.getBackend()}${fast ? "" : ": shorter runs, 4-image batches"}`);
  data = await IdxDataset.open(`${dir}/images-idx3-ubyte.gz`, `${dir}/labels-idx1-ubyte`, { classNames: FASHION_MNIST_CLASSES });
  const loader = new DataLoader(data, { batchSize: 8, size: 16, seed: 0 });
  for await (const b of loader.epoch(0)) {
    const { images, labels } = DataLoader.toTensors(b);
    labels.dispose();
    if (fast) batches.push(images);
    else {
      batches.push(tf.slice(images, [0, 0, 0, 0], [4, -1, -1, -1]));
      images.dispose();
    }
  }
});
afterAll(() => {
  tf.dispose(batches);
  batches = [];
});

function makeTrainer(opts: VqvaeTrainerOptions = {}, cfg = {}): VqvaeTrainer {
  const vae = new VQVAE(tinyVqvaeConfig(cfg));
  initVqvaeForTraining(vae, 1);
  return new VqvaeTrainer(vae, opts);
}

function dispose(t: VqvaeTrainer) {
  t.optimizer.dispose();
  t.vae.dispose();
}

const fmt = (xs: number[]) => xs.map((x) => x.toFixed(5)).join(" ");

describe("VqvaeTrainer", () => {
  it("takes a step: losses, grad norm, lr, per-scale usage, no tensors left behind", async () => {
    const t = makeTrainer({ l1Weight: 0.5 });
    await t.trainStep(batches[0]); // AdamW makes its moments on the first step
    const before = tf.memory().numTensors;
    const m = await t.trainStep(batches[1]);
    const after = tf.memory().numTensors;
    console.log(`[vqvae-trainer] step ${m.step}: loss ${m.loss} = mse ${m.recL2} + 0.5·l1 ${m.recL1} + vq ${m.vqLoss}; grad norm ${m.gradNorm}; lr ${m.lr}; ${m.ms.toFixed(0)} ms; tensors ${before} -> ${after}`);
    expect(after).toBe(before);
    expect(m.step).toBe(2);
    expect(m.lr).toBe(2e-4);
    expect(m.loss).toBeCloseTo(m.recL2 + 0.5 * m.recL1 + m.vqLoss, 5);
    expect(m.gradNorm).toBeGreaterThan(0);
    expect(m.usage.length).toBe(3);
    for (const u of m.usage) {
      expect(u.perplexity).toBeGreaterThanOrEqual(1);
      expect(u.unused).toBeLessThan(64);
    }
    dispose(t);
  });

  it("prefixScales: the loss adds the weighted prefix loss (mse of the first scales' decodings, area-downsampled, recomputed here), recorded in the config; training lowers it", async () => {
    const t = makeTrainer({ prefixScales: 2, prefixWeight: 0.5 });
    await t.trainStep(batches[0]);
    const x = batches[1];
    // the value this step will see, recomputed by hand: block means (16 px image, 4×4 latent: 4 and 8 px for the 1×1 and 2×2 scales)
    const o = t.vae.forwardTrain(x, { prefixes: 2 });
    const [img, r0, r1] = await Promise.all([x.data(), o.prefixRecs![0].data(), o.prefixRecs![1].data()]);
    const [B, S] = [x.shape[0], x.shape[1]];
    const blockMse = (rec: Float32Array | Int32Array | Uint8Array, r: number) => {
      const f = S / r;
      let sum = 0;
      for (let b = 0; b < B; b++)
        for (let i = 0; i < r; i++)
          for (let j = 0; j < r; j++)
            for (let c = 0; c < 3; c++) {
              let d = 0;
              for (let u = 0; u < f; u++) for (let v = 0; v < f; v++) d += rec[((b * S + i * f + u) * S + j * f + v) * 3 + c] - img[((b * S + i * f + u) * S + j * f + v) * 3 + c];
              sum += (d / (f * f)) ** 2;
            }
      return sum / (B * r * r * 3);
    };
    const want = (blockMse(r0, 4) + blockMse(r1, 8)) / 2;
    tf.dispose([o.rec, o.loss, o.recLoss, o.vqLoss, ...o.prefixRecs!]);
    const before = tf.memory().numTensors;
    const m = await t.trainStep(x);
    expect(tf.memory().numTensors).toBe(before);
    console.log(`[vqvae-trainer] prefix loss: ${m.prefixL2} (by hand ${want}); loss ${m.loss} = mse ${m.recL2} + vq ${m.vqLoss} + 0.5·prefix`);
    expect(m.prefixL2!).toBeCloseTo(want, 5);
    expect(m.loss).toBeCloseTo(m.recL2 + m.vqLoss + 0.5 * m.prefixL2!, 5);
    expect((t.config() as { trainer: Record<string, unknown> }).trainer).toMatchObject({ prefixScales: 2, prefixWeight: 0.5 });
    expect((makeTrainer().config() as { trainer: Record<string, unknown> }).trainer.prefixScales).toBeUndefined(); // off: older checkpoints still resume
    dispose(t);
    expect(() => makeTrainer({ prefixScales: 3 })).toThrow(/prefixScales must be an integer from 0 to 2/);
    expect(() => makeTrainer({ prefixScales: 1, prefixWeight: -1 })).toThrow(/prefixWeight must be a non-negative number/);
    // the loss measured but not trained (weight 0) against trained alone (weight 1, no other reconstruction term): the first scale's decodings come closer to the image
    const steps = fast ? 12 : 6;
    const run = async (prefixWeight: number) => {
      const tr = makeTrainer({ prefixScales: 1, prefixWeight, l2Weight: 0, lr: 2e-3 });
      const seen: number[] = [];
      for (let s = 0; s < steps; s++) seen.push((await tr.trainStep(batches[s % batches.length])).prefixL2!);
      dispose(tr);
      return seen.slice(-4).reduce((a, b) => a + b, 0) / 4;
    };
    const [off, on] = [await run(0), await run(1)];
    console.log(`[vqvae-trainer] prefix loss (1×1 scale) after ${steps} steps, mean of the last 4: weight 0 ${off.toFixed(5)}, weight 1 ${on.toFixed(5)}`);
    expect(on).toBeLessThan(off);
  }, SLOW_TIMEOUT);

  it("restarts dead codes: a collapsed codebook (every code the same, far from the features) recovers usage with restarts, not without", async () => {
    const run = async (restarts: boolean) => {
      const dead = fast ? 3 : 2;
      const t = makeTrainer({ restarts, deadAfter: dead, usageWindow: dead, reservoirSize: 256, lr: 1e-3 }, { vocabSize: 32 });
      const e = t.vae.quantize.embedding.weight;
      e.setTorch(tf.fill([...e.shape], 3));
      let m: VqvaeStepMetrics | undefined;
      const first: ScaleUsage[] = [];
      for (let s = 0; s < (fast ? 12 : 8); s++) {
        m = await t.trainStep(batches[s % batches.length]);
        if (s === 2) first.push(...m.usage);
      }
      const line = (us: typeof first) => us.map((u, k) => `scale ${k}: perplexity ${u.perplexity.toFixed(2)} unused ${u.unused}/32`).join("; ");
      console.log(`[vqvae-trainer] collapsed codebook, restarts ${restarts ? "on " : "off"}: after 3 steps ${line(first)}`);
      console.log(`[vqvae-trainer] collapsed codebook, restarts ${restarts ? "on " : "off"}: after ${t.step} steps ${line(m!.usage)}; restarted ${t.codebook.restarts} codes; vq loss ${m!.vqLoss.toFixed(4)}`);
      const usage = m!.usage;
      dispose(t);
      return usage;
    };
    const off = await run(false);
    const on = await run(true);
    for (const u of off) expect(u.unused).toBe(31); // one code takes every cell at every scale
    for (let k = 0; k < on.length; k++) {
      if (fast) expect(on[k].unused).toBeLessThan(off[k].unused);
      else expect(on[k].unused).toBeLessThanOrEqual(off[k].unused); // 4 cells a step at 1×1: fewer chances there
      if (fast) expect(on[k].perplexity).toBeGreaterThan(off[k].perplexity);
    }
    expect(on.at(-1)!.unused).toBeLessThanOrEqual(fast ? 24 : 28); // the finest scale uses 8+ (4+) codes again (1 without restarts)
  }, SLOW_TIMEOUT);

  it("accumulates gradients: accum 2 takes the step of the whole batch (to rounding) with a smaller peak of tensor memory", async () => {
    const plain = makeTrainer({ restarts: false });
    const split = makeTrainer({ restarts: false, accum: 2 });
    const a: VqvaeStepMetrics[] = [];
    const b: VqvaeStepMetrics[] = [];
    for (let i = 0; i < 3; i++) {
      a.push(await plain.trainStep(batches[i]));
      b.push(await split.trainStep(batches[i]));
    }
    const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(Math.abs(y), 1e-12);
    const err = Math.max(...a.flatMap((m, i) => [rel(b[i].loss, m.loss), rel(b[i].recL2, m.recL2), rel(b[i].gradNorm, m.gradNorm)]));
    const wA = (await plain.vae.quantize.embedding.weight.value.data()) as Float32Array;
    const wB = (await split.vae.quantize.embedding.weight.value.data()) as Float32Array;
    const werr = Math.max(...wA.map((x, i) => Math.abs(x - wB[i])));
    const peak = (ms: VqvaeStepMetrics[]) => Math.max(...ms.map((m) => m.peakTensorBytes));
    console.log(`[vqvae-trainer] accum 2 vs 1 over 3 steps: max rel. error of loss/mse/grad norm ${err.toExponential(2)}, codebook max abs diff ${werr.toExponential(2)}; peak tensor memory ${(peak(a) / 2 ** 20).toFixed(2)} MB → ${(peak(b) / 2 ** 20).toFixed(2)} MB`);
    expect(err).toBeLessThan(1e-4);
    expect(werr).toBeLessThan(1e-4);
    expect(peak(b)).toBeLessThan(peak(a));
    expect(a[0].usage.map((u) => u.perplexity)).toEqual(b[0].usage.map((u) => u.perplexity)); // the same codes picked
    dispose(plain);
    dispose(split);
  }, SLOW_TIMEOUT);

  it("resumes bit for bit: K steps straight equal K/2, save, load into fresh objects, K/2", async () => {
    const K = fast ? 6 : 4;
    const opts = { deadAfter: 2, usageWindow: 3, reservoirSize: 32 };
    const straight = makeTrainer(opts);
    const a: number[] = [];
    for (let s = 0; s < K; s++) a.push((await straight.trainStep(batches[s % batches.length])).loss);
    const wantW = Array.from(await straight.vae.quantize.embedding.weight.value.data());
    const restartsA = straight.codebook.restarts;
    dispose(straight);

    const tmp = mkdtempSync(join(tmpdir(), "vqvae-resume-"));
    try {
      const first = makeTrainer(opts);
      const b: number[] = [];
      for (let s = 0; s < K / 2; s++) b.push((await first.trainStep(batches[s % batches.length])).loss);
      await first.save(join(tmp, "half.safetensors"));
      dispose(first);
      const second = makeTrainer({ ...opts, seed: 0 });
      initVqvaeForTraining(second.vae, 7); // other weights, overwritten by the load
      expect(await second.load(join(tmp, "half.safetensors"))).toBe(K / 2);
      for (let s = K / 2; s < K; s++) b.push((await second.trainStep(batches[s % batches.length])).loss);
      console.log(`[vqvae-trainer] resume: straight ${fmt(a)}\n[vqvae-trainer] resume: resumed  ${fmt(b)} (restarts ${restartsA} / ${second.codebook.restarts})`);
      expect(b).toEqual(a);
      expect(second.codebook.restarts).toBe(restartsA);
      expect(Array.from(await second.vae.quantize.embedding.weight.value.data())).toEqual(wantW);
      dispose(second);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, SLOW_TIMEOUT);

  it("trainVqvae on Fashion-MNIST 16 px: the reconstruction loss goes clearly down in 200 steps; checkpoints every N and at the end", async () => {
    // wasm: 200 steps; cpu and webgpu: 20 (tail and head then are means of 5 steps)
    const steps = fast ? 200 : 20;
    const every = fast ? 150 : 15;
    const tmp = mkdtempSync(join(tmpdir(), "vqvae-run-"));
    try {
      const t = makeTrainer({ lr: 1e-3 });
      const loader = new DataLoader(data, { batchSize: 4, size: 16, seed: 0 });
      const losses: number[] = [];
      const t0 = performance.now();
      const last = await trainVqvae(t, loader, { steps, checkpointDir: tmp, checkpointEvery: every, onStep: (m) => losses.push(m.recL2) });
      const secs = (performance.now() - t0) / 1000;
      const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
      const n = fast ? 10 : 5;
      const head = mean(losses.slice(0, n));
      const tail = mean(losses.slice(-n));
      console.log(
        `[vqvae-trainer] backend ${tf.getBackend()}: ${steps} steps (batch 4, 16 px) in ${secs.toFixed(1)} s: rec mse first ${losses[0].toFixed(4)} (mean of ${n}: ${head.toFixed(4)}), last ${losses.at(-1)!.toFixed(4)} (mean of ${n}: ${tail.toFixed(4)}); usage ${last!.usage.map((u) => `${u.perplexity.toFixed(1)}/${64 - u.unused}`).join(" ")} (perplexity/used per scale); restarts ${t.codebook.restarts}`,
      );
      expect(losses.length).toBe(steps);
      expect(tail).toBeLessThan(head * (fast ? 0.5 : 0.8));
      const name = (s: number) => `ckpt-${String(s).padStart(8, "0")}.safetensors`;
      expect(await latestCheckpoint(tmp)).toMatch(new RegExp(`${name(steps)}$`));
      const { readdirSync } = await import("node:fs");
      expect(readdirSync(tmp).sort()).toEqual([name(every), name(steps)]);
      // the loop resumes from the latest checkpoint: nothing left to do at the last step
      const again = makeTrainer({ lr: 1e-3 });
      expect(await trainVqvae(again, loader, { steps, checkpointDir: tmp })).toBeUndefined();
      expect(again.step).toBe(steps);
      dispose(again);
      dispose(t);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 400_000); // 127–180 s measured on wasm with 2 cores shared by other jobs (load 7–9); less on an idle machine
});
