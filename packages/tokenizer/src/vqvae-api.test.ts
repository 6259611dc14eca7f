/**
 * The tokenizer's API beyond parity: the sampler's hooks agree with the
 * teacher-forcing path, custom patch_nums, memory, and clear errors for bad
 * input (wrong image size, wrong channel count, other models' checkpoints).
 */
import { join } from "node:path";
import { openCheckpoint, StateDictError, type TensorStore, toInt32 } from "@nextscale/core";
import { compare, FIXTURES, referenceBundles, report } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vqvaeConfig } from "./config.js";
import { VqvaeInputError } from "./errors.js";
import { phiIndexPerScale } from "./phi.js";
import { loadVqvae, VQVAE } from "./vqvae.js";

const data = async (t: tf.Tensor) => (await t.data()) as Float32Array;

describe.each(referenceBundles().map((b) => [b.name, b] as const))("sampler hooks on %s", (name, bundle) => {
  it("nextAutoregressiveInput, stepped over the reference indices, gives var_input_BLCv and the final f̂", async () => {
    const patchNums: number[] = bundle.meta.var.patch_nums;
    const K = patchNums.length;
    const vae = await loadVqvae(bundle.file("vae.pth"), { patchNums });
    const io = await openCheckpoint(bundle.file("io.safetensors"));
    const idx = await Promise.all(patchNums.map(async (_, k) => {
      const h = await io.read(`idx_s${k}`);
      return tf.tensor(toInt32(h), h.shape, "int32");
    }));
    const teacher = vae.indicesToVarInput(idx);
    const [B, , C] = teacher.shape;
    const P = patchNums[K - 1];
    let fHat = tf.zeros([B, P, P, C]) as tf.Tensor4D;
    let offset = 0;
    for (let k = 0; k < K; k++) {
      const h = vae.quantize.embed(idx[k]);
      expect(h.shape).toEqual([B, patchNums[k], patchNums[k], C]);
      const step = vae.quantize.nextAutoregressiveInput(k, K, fHat, h);
      tf.dispose([fHat, h]);
      fHat = step.fHat;
      if (k < K - 1) {
        const pn = patchNums[k + 1];
        expect(step.next.shape).toEqual([B, pn, pn, C]);
        const want = tf.slice(teacher, [0, offset, 0], [B, pn * pn, C]);
        expect(compare(await data(step.next), await data(want)).maxAbs).toBeLessThan(1e-6);
        offset += pn * pn;
        want.dispose();
      } else {
        expect(compare(await data(step.next), await data(fHat)).maxAbs).toBe(0);
      }
      step.next.dispose();
    }
    expect(offset).toBe(teacher.shape[1]);
    const [want] = vae.indicesToFHat(idx);
    const s = compare(await data(fHat), await data(want));
    report(name, "f̂ from nextAutoregressiveInput vs indicesToFHat", s);
    expect(s.maxAbs).toBeLessThan(1e-6);
    tf.dispose([fHat, want, teacher, ...idx]);
    vae.dispose();
    await io.close();
  });
});

describe("VQVAE API and errors (var-tiny)", () => {
  const file = join(FIXTURES, "var-tiny", "vae.pth");
  let vae: VQVAE;
  let img: tf.Tensor4D;
  beforeAll(async () => {
    vae = await loadVqvae(file, { patchNums: [1, 2, 3, 4] });
    img = tf.tidy(() => tf.sub(tf.mul(tf.randomUniform([1, 64, 64, 3], 0, 1, "float32", 7), 2), 1) as tf.Tensor4D);
  });
  afterAll(() => {
    vae.dispose();
    img.dispose();
  });

  it("takes any patch_nums that end at the latent side", () => {
    for (const pns of [[1, 4], [2, 3, 4], [4, 4], [1, 2, 3, 4, 4]]) {
      const idx = vae.imageToIndices(img, pns);
      expect(idx.map((t) => t.shape)).toEqual(pns.map((p) => [1, p * p]));
      expect(idx.every((t) => t.dtype === "int32")).toBe(true);
      const previews = vae.reconstruct(img, { allScales: true, patchNums: pns });
      expect(previews.length).toBe(pns.length);
      for (const p of previews) expect(p.shape).toEqual([1, 64, 64, 3]);
      tf.dispose([...idx, ...previews]);
    }
  });

  it("leaves no tensors behind", () => {
    const everything = () => {
      const idx = vae.imageToIndices(img);
      tf.dispose([vae.indicesToImage(idx), ...vae.indicesToImage(idx, { allScales: true }), vae.indicesToVarInput(idx), vae.reconstruct(img), ...vae.fHatPerScale(img)]);
      const t = vae.forwardTrain(img);
      tf.dispose([t.rec, t.loss, t.recLoss, t.vqLoss]);
      tf.dispose(idx);
    };
    everything(); // the first call caches the resampling matrices (kept on purpose, one per size pair)
    const before = tf.memory().numTensors;
    everything();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("rejects images of the wrong size, naming the expected size", () => {
    const small = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    expect(() => vae.imageToIndices(small)).toThrow(VqvaeInputError);
    expect(() => vae.imageToIndices(small)).toThrow(/expected images of 64×64/);
    expect(() => vae.reconstruct(tf.zeros([1, 64, 48, 3]) as tf.Tensor4D)).toThrow(/64×64.*got 64×48/);
    // patch_nums ending at 2 need 32×32 images
    expect(() => vae.imageToIndices(img, [1, 2])).toThrow(/expected images of 32×32/);
    expect(vae.imageToIndices(small, [1, 2]).map((t) => t.shape)).toEqual([
      [1, 1],
      [1, 4],
    ]);
    expect(() => vae.forwardTrain(small)).toThrow(/64×64/);
    small.dispose();
  });

  it("rejects the wrong channel count and layout", () => {
    expect(() => vae.encode(tf.zeros([1, 64, 64, 4]) as tf.Tensor4D)).toThrow(/expected 3 channels.*got 4 channels/);
    expect(() => vae.encode(tf.zeros([1, 3, 64, 64]) as tf.Tensor4D)).toThrow(/expected 3 channels/);
    expect(() => vae.encode(tf.zeros([64, 64, 3]) as unknown as tf.Tensor4D)).toThrow(/rank-3/);
    expect(() => vae.encode(tf.zeros([1, 64, 64, 3], "int32") as tf.Tensor4D)).toThrow(/float32/);
  });

  it("rejects indices that do not fit the patch_nums", () => {
    const idx = vae.imageToIndices(img);
    expect(() => vae.indicesToImage(idx.slice(0, 3))).toThrow(/one index tensor per scale \(4 for patch_nums \[1,2,3,4\]\), got 3/);
    expect(() => vae.indicesToImage([idx[0], idx[2], idx[1], idx[3]])).toThrow(/scale 1 must be \(1, 4\)/);
    expect(() => vae.indicesToVarInput(idx.map((t) => tf.cast(t, "float32")))).toThrow(/int32/);
    expect(() => vae.decode(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D)).toThrow(/f̂ must be \(B, P, P, 8\)/);
    tf.dispose(idx);
  });

  it("rejects other models' checkpoints clearly", async () => {
    // a VAR's checkpoint: a StateDictError that names the file and says what it looks like (see load-vqvae.test.ts)
    await expect(loadVqvae(join(FIXTURES, "var-tiny", "var.pth"))).rejects.toThrow(/var\.pth looks like a VAR checkpoint/);
    await expect(loadVqvae(join(FIXTURES, "var-tiny", "var.safetensors"))).rejects.toThrow(StateDictError);
    // with an explicit config the loader names the missing and unexpected keys
    await expect(loadVqvae(join(FIXTURES, "var-tiny", "var.pth"), { config: vae.config })).rejects.toThrow(StateDictError);
    // a VQ-VAE of another width
    await expect(loadVqvae(file, { config: vqvaeConfig({ ch: 64, vocabSize: 64, zChannels: 8, patchNums: [1, 2, 3, 4] }) })).rejects.toThrow(
      /shape mismatches.*encoder\.conv_in\.weight expected \[64,3,3,3\] found \[32,3,3,3\]/s,
    );
    // 4 scales in the checkpoint: patch_nums cannot be guessed
    await expect(loadVqvae(file)).rejects.toThrow(/trained with 4 scales; pass patchNums/);
  });

  it("loads a checkpoint whose usage record has another number of scales (as the official load_state_dict)", async () => {
    const store: TensorStore = await openCheckpoint(file);
    const other = await loadVqvae(store, { patchNums: [1, 2, 4] });
    expect(other.quantize.ema_vocab_hit_SV.shape).toEqual([3, 64]);
    expect(Array.from(await other.quantize.ema_vocab_hit_SV.value.data()).every((v) => v === 0)).toBe(true);
    expect(store.keys().length).toBeGreaterThan(0); // a store passed in stays open
    await store.close();
    other.dispose();
  });

  it("trains a small model from scratch: every parameter gets a gradient except the φ no scale uses", async () => {
    const small = new VQVAE(vqvaeConfig({ ch: 32, chMult: [1, 2], vocabSize: 16, zChannels: 4, patchNums: [1, 2, 4], numResBlocks: 1 }));
    small.initParameters((_, p) => tf.mul(tf.randomNormal([...p.shape], 0, 1, "float32", 3), 0.1));
    const x = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    const { grads, value } = tf.variableGrads(() => small.forwardTrain(x).loss);
    // K = 3 scales pick φ 0, 2, 3 of the four (ticks 1/12 … 11/12), so φ 1 takes no part
    expect(phiIndexPerScale(small.config)).toEqual([0, 2, 3]);
    const got = small
      .trainableParameters()
      .filter((p) => grads[p.value.name] !== undefined)
      .map((p) => p.name);
    const want = small
      .trainableParameters()
      .map((p) => p.name)
      .filter((n) => !n.startsWith("quantize.quant_resi.qresi_ls.1."));
    expect(got).toEqual(want);
    for (const g of Object.values(grads)) expect((await g.data()).every(Number.isFinite)).toBe(true);
    expect(Number.isFinite((await value.data())[0])).toBe(true);
    tf.dispose([x, value, ...Object.values(grads)]);
    small.dispose();
  });
  it("forwardTrain with collect: the same losses, and each scale's codes and inputs as imageToIndices sees them", async () => {
    const small = new VQVAE(vqvaeConfig({ ch: 32, chMult: [1, 2], vocabSize: 16, zChannels: 4, patchNums: [1, 2, 4], numResBlocks: 1, usingSa: false, usingMidSa: false }));
    small.initParameters((_, p) => tf.mul(tf.randomNormal([...p.shape], 0, 1, "float32", 5), 0.1));
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, "float32", 6) as tf.Tensor4D;
    const plain = small.forwardTrain(x);
    const before = tf.memory().numTensors;
    const o = small.forwardTrain(x, { collect: true });
    const made = tf.memory().numTensors - before;
    expect((await o.loss.data())[0]).toBe((await plain.loss.data())[0]);
    expect(o.indices!.map((t) => t.shape)).toEqual([[2], [8], [32]]);
    expect(o.inputs!.map((t) => t.shape)).toEqual([[2, 4], [8, 4], [32, 4]]);
    const want = small.imageToIndices(x);
    for (let k = 0; k < 3; k++) expect(Array.from(await o.indices![k].data())).toEqual(Array.from(await want[k].data()));
    const f = small.encode(x);
    // scale 0 (1×1) quantizes the area mean of f = quant_conv(encoder(x)) over the latent
    const meanT = tf.mean(f, [1, 2]);
    const mean = await meanT.data();
    const got = await o.inputs![0].data();
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(mean[i], 5);
    const outs = [o.rec, o.loss, o.recLoss, o.vqLoss, ...o.indices!, ...o.inputs!];
    expect(made).toBe(outs.length); // nothing else is left behind
    tf.dispose([x, f, meanT, ...want, ...outs, plain.rec, plain.loss, plain.recLoss, plain.vqLoss]);
    small.dispose();
  });
  it("forwardTrain with prefixes: the decoded partial sums of the first scales (as reconstruct's allScales), the same losses, gradients into the encoder through them", async () => {
    const small = new VQVAE(vqvaeConfig({ ch: 32, chMult: [1, 2], vocabSize: 16, zChannels: 4, patchNums: [1, 2, 4], numResBlocks: 1, usingSa: false, usingMidSa: false }));
    small.initParameters((_, p) => tf.mul(tf.randomNormal([...p.shape], 0, 1, "float32", 7), 0.1));
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, "float32", 8) as tf.Tensor4D;
    const plain = small.forwardTrain(x);
    const o = small.forwardTrain(x, { prefixes: 2 });
    expect((await o.loss.data())[0]).toBe((await plain.loss.data())[0]);
    expect(o.prefixRecs!.map((t) => t.shape)).toEqual([
      [2, 8, 8, 3],
      [2, 8, 8, 3],
    ]);
    const perScale = small.reconstruct(x, { allScales: true });
    let err = 0;
    for (let k = 0; k < 2; k++) {
      const [a, b] = [await o.prefixRecs![k].data(), await perScale[k].data()];
      // reconstruct clamps to [-1, 1]; forwardTrain does not
      for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(Math.min(1, Math.max(-1, a[i])) - b[i]));
    }
    console.log(`[vqvae-api] prefixes 2: max |prefixRec − reconstruct(allScales)| ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
    // a loss on the first scale's decoding alone reaches the encoder (through f's 1×1 view) and the decoder
    const { grads, value } = tf.variableGrads(() => tf.mean(tf.square(small.forwardTrain(x, { prefixes: 1 }).prefixRecs![0])) as tf.Scalar);
    const name = (p: { value: tf.Variable }) => p.value.name;
    const reached: { name: string }[] = [];
    for (const p of small.trainableParameters()) if (grads[name(p)] && Array.from(await grads[name(p)].data()).some((g) => g !== 0)) reached.push(p); // async: webgpu in Node
    expect(reached.some((p) => p.name.startsWith("encoder."))).toBe(true);
    expect(reached.some((p) => p.name.startsWith("decoder."))).toBe(true);
    expect(() => small.forwardTrain(x, { prefixes: 3 })).toThrow(/prefixes must be an integer from 0 to 2/);
    tf.dispose([x, value, ...Object.values(grads), ...perScale, o.rec, o.loss, o.recLoss, o.vqLoss, ...o.prefixRecs!, plain.rec, plain.loss, plain.recLoss, plain.vqLoss]);
    small.dispose();
  });
});
