/**
 * Stage-1 training with the optional VQGAN discriminator (`gan`): nothing
 * changes before `gan.start`, the adversarial terms and the discriminator's
 * update from then on, the discriminator learning to tell images from
 * reconstructions, and a bit-for-bit resume with its weights and Adam
 * moments in the checkpoint. (The terms themselves are checked against
 * PyTorch in discriminator.test.ts.) Tiny configs, 16 px.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES } from "@nextscale/test-utils";
import { VQVAE } from "@nextscale/tokenizer";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataLoader, FASHION_MNIST_CLASSES, IdxDataset } from "./data/index.js";
import { type GanOptions, initVqvaeForTraining, isDecoderParameter, tinyVqvaeConfig, type VqvaeStepMetrics, VqvaeTrainer, type VqvaeTrainerOptions } from "./vqvae-trainer.js";

const dir = join(FIXTURES, "fashion-mnist-slice");
let batches: tf.Tensor4D[] = [];
const GAN: GanOptions = { ndf: 8, layers: 2, lr: 1e-3 };

beforeAll(async () => {
  console.log(`[vqvae-gan] backend ${tf.getBackend()}`);
  const data = await IdxDataset.open(`${dir}/images-idx3-ubyte.gz`, `${dir}/labels-idx1-ubyte`, { classNames: FASHION_MNIST_CLASSES });
  const loader = new DataLoader(data, { batchSize: 4, size: 16, seed: 0 });
  for await (const b of loader.epoch(0)) {
    const { images, labels } = DataLoader.toTensors(b);
    labels.dispose();
    batches.push(images);
    if (batches.length === 6) break;
  }
});
afterAll(() => {
  tf.dispose(batches);
  batches = [];
});

function makeTrainer(opts: VqvaeTrainerOptions = {}): VqvaeTrainer {
  const vae = new VQVAE(tinyVqvaeConfig());
  initVqvaeForTraining(vae, 1);
  return new VqvaeTrainer(vae, { restarts: false, l1Weight: 0.2, ...opts });
}
function dispose(t: VqvaeTrainer) {
  t.optimizer.dispose();
  t.discOptimizer?.dispose();
  t.vae.dispose();
  t.discriminator?.dispose();
}
const discWeights = async (t: VqvaeTrainer) => Float32Array.from((await t.discriminator!.main.namedParameters()[0][1].value.data()) as Float32Array);

describe("VqvaeTrainer with the VQGAN discriminator", () => {
  it("before gan.start a step is the plain step bit for bit; from it on: g_loss, λ, d_loss, the discriminator updated, no tensors left behind", async () => {
    const plain = makeTrainer();
    const gan = makeTrainer({ gan: { ...GAN, start: 2 } });
    const d0 = await discWeights(gan);
    const a: VqvaeStepMetrics[] = [];
    const b: VqvaeStepMetrics[] = [];
    for (let s = 0; s < 2; s++) {
      a.push(await plain.trainStep(batches[s]));
      b.push(await gan.trainStep(batches[s]));
    }
    expect(b.map((m) => m.loss)).toEqual(a.map((m) => m.loss));
    expect(b.every((m) => m.gan === undefined)).toBe(true);
    expect(await discWeights(gan)).toEqual(d0); // not trained before the start
    await gan.trainStep(batches[2]); // the discriminator's Adam makes its moments on its first step
    const before = tf.memory().numTensors;
    const m = await gan.trainStep(batches[3]);
    expect(tf.memory().numTensors).toBe(before);
    const g = m.gan!;
    console.log(
      `[vqvae-gan] step ${m.step}: loss ${m.loss.toFixed(5)} = mse ${m.recL2.toFixed(5)} + 0.2·l1 ${m.recL1.toFixed(5)} + vq ${m.vqLoss.toFixed(5)} + λ ${g.dWeight.toExponential(3)}·g ${g.gLoss.toFixed(5)}; d_loss ${g.dLoss.toFixed(5)}; logits real ${g.logitsReal.toFixed(4)} fake ${g.logitsFake.toFixed(4)}`,
    );
    expect(m.loss).toBeCloseTo(m.recL2 + 0.2 * m.recL1 + m.vqLoss + g.dWeight * g.gLoss, 5);
    expect(g.dWeight).toBeGreaterThan(0);
    expect(g.dLoss).toBeGreaterThan(0);
    expect(await discWeights(gan)).not.toEqual(d0);
    dispose(plain);
    dispose(gan);
  }, 300_000);

  it("the discriminator learns: over 12 steps its hinge loss falls and real images score above reconstructions", async () => {
    const t = makeTrainer({ gan: { ...GAN, start: 0 } });
    const ms: VqvaeStepMetrics[] = [];
    for (let s = 0; s < 12; s++) ms.push(await t.trainStep(batches[s % batches.length]));
    const d = ms.map((m) => m.gan!.dLoss);
    const gap = ms.map((m) => m.gan!.logitsReal - m.gan!.logitsFake);
    console.log(`[vqvae-gan] d_loss ${d.map((x) => x.toFixed(3)).join(" ")}; logit gap real − fake ${gap.map((x) => x.toFixed(3)).join(" ")}`);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(d.slice(-3))).toBeLessThan(mean(d.slice(0, 3)));
    expect(mean(gap.slice(-3))).toBeGreaterThan(0);
    dispose(t);
  }, 300_000);

  it("resumes bit for bit with the discriminator's weights and moments; a checkpoint and a trainer that disagree on gan fail clearly", async () => {
    const K = 4;
    const opts = { gan: { ...GAN, start: 1 } };
    const straight = makeTrainer(opts);
    const a: number[][] = [];
    for (let s = 0; s < K; s++) {
      const m = await straight.trainStep(batches[s]);
      a.push([m.loss, m.gan?.dLoss ?? 0]);
    }
    const wantD = await discWeights(straight);
    dispose(straight);
    const tmp = mkdtempSync(join(tmpdir(), "vqvae-gan-resume-"));
    try {
      const first = makeTrainer(opts);
      const b: number[][] = [];
      for (let s = 0; s < K / 2; s++) {
        const m = await first.trainStep(batches[s]);
        b.push([m.loss, m.gan?.dLoss ?? 0]);
      }
      const path = await first.save(join(tmp, "half.safetensors"));
      dispose(first);
      const second = makeTrainer({ gan: { ...GAN, start: 1 } });
      second.discriminator!.init(9); // other weights, overwritten by the load
      expect(await second.load(path)).toBe(K / 2);
      for (let s = K / 2; s < K; s++) {
        const m = await second.trainStep(batches[s]);
        b.push([m.loss, m.gan?.dLoss ?? 0]);
      }
      console.log(`[vqvae-gan] resume: straight ${JSON.stringify(a)}\n[vqvae-gan] resume: resumed  ${JSON.stringify(b)}`);
      expect(b).toEqual(a);
      expect(await discWeights(second)).toEqual(wantD);
      dispose(second);
      const none = makeTrainer();
      await expect(none.load(path)).rejects.toThrow(/gan|other options|config/i);
      dispose(none);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 300_000);

  it("decoderOnly: the decoder and post_quant_conv change, the encoder, quant_conv and codebook stay bit for bit, so the token maps stay", async () => {
    const t = makeTrainer({ decoderOnly: true, gan: { ...GAN, start: 1 } });
    const snapshot = async () => new Map(await Promise.all(t.vae.namedParameters().map(async ([k, p]) => [k, Float32Array.from((await p.value.data()) as Float32Array)] as const)));
    const tokens = async () => Promise.all(t.vae.imageToIndices(batches[0]).map(async (x) => { const d = Array.from(await x.data()); x.dispose(); return d; }));
    const before = await snapshot();
    const tok0 = await tokens();
    for (let s = 0; s < 3; s++) await t.trainStep(batches[s]);
    const after = await snapshot();
    const changed = [...before.keys()].filter((k) => !after.get(k)!.every((v, i) => v === before.get(k)![i]));
    console.log(`[vqvae-gan] decoderOnly: ${changed.length} of ${before.size} tensors changed, e.g. ${changed.slice(0, 3).join(", ")}`);
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.filter((k) => !isDecoderParameter(k))).toEqual([]);
    expect(changed.filter((k) => k.startsWith("decoder.")).length).toBeGreaterThan(0);
    expect(await tokens()).toEqual(tok0);
    expect(() => makeTrainer({ decoderOnly: true, restarts: true })).toThrow(/restarts/);
    dispose(t);
  }, 300_000);
});
