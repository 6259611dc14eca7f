import { fromInternal, type HostTensor, openCheckpoint, StateDictError, type TensorStore, toFloat32, toInt32 } from "@nextscale/core";
import { type Bundle, compare, referenceBundles, report } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inferVarConfig, type VarConfig, varConfig } from "./config.js";
import { varLoss } from "./loss.js";
import { dropPathRates, VarTransformer } from "./var-transformer.js";

/** The configuration a bundle's meta.json describes (never hard-coded). */
function configOf(meta: Bundle["meta"]): VarConfig {
  const v = meta.var;
  return varConfig({
    depth: v.depth,
    embedDim: v.embed_dim,
    numHeads: v.num_heads,
    mlpRatio: v.mlp_ratio,
    normEps: v.norm_eps,
    numClasses: v.num_classes,
    sharedAln: v.shared_aln,
    attnL2Norm: v.attn_l2_norm,
    patchNums: v.patch_nums,
    vocabSize: meta.vqvae.vocab_size,
    cvae: meta.vqvae.z_channels,
  });
}

const bundles = referenceBundles();

it("finds reference bundles", () => {
  expect(bundles.length).toBeGreaterThan(0);
});

for (const bundle of bundles) {
  describe(`VAR transformer parity on ${bundle.name}`, () => {
    let io: TensorStore;
    let model: VarTransformer;
    const host = async (k: string) => io.read(k);
    const f32 = async (k: string) => {
      const t = await host(k);
      return tf.tensor(toFloat32(t), t.shape, "float32");
    };
    // Labels and indices stay on the host (numbers), as the model takes them.
    const labelsOf = async () => Array.from(toInt32(await host("label_B")));
    const K = () => model.config.patchNums.length;

    beforeAll(async () => {
      io = await openCheckpoint(bundle.file("io.safetensors"));
      const store = await openCheckpoint(bundle.file("var.pth"));
      model = new VarTransformer(configOf(bundle.meta));
      await model.loadStateDict(store);
      await store.close();
    });
    afterAll(async () => {
      model?.dispose();
      await io?.close();
    });

    it("inferVarConfig reads the bundle's configuration back from the checkpoint", async () => {
      const store = await openCheckpoint(bundle.file("var.pth"));
      const shapes = Object.fromEntries(store.keys().map((k) => [k, store.info(k).shape]));
      await store.close();
      const want = configOf(bundle.meta);
      const inferred = inferVarConfig(shapes, { patchNums: want.patchNums });
      // Heads cannot be read from shapes without attn_l2_norm; everything else must agree.
      expect({ ...inferred, numHeads: 0 }).toEqual({ ...want, numHeads: 0 });
      expect(inferVarConfig(shapes, { patchNums: want.patchNums, numHeads: want.numHeads })).toEqual(want);
      expect(() => inferVarConfig(shapes, { patchNums: want.patchNums, depth: want.depth + 1 })).toThrow(/contradict depth=/);
      if (want.attnL2Norm) expect(inferred.numHeads).toBe(want.numHeads);
    });

    it("teacher-forcing forward (block-causal mask) = teacher_logits_BLV", async () => {
      const x = await f32("var_input_BLCv");
      const labels = await labelsOf();
      const want = await host("teacher_logits_BLV");
      const logits = model.forward(labels, x);
      expect(logits.shape).toEqual(want.shape);
      const s = compare(await logits.data(), toFloat32(want));
      report(bundle.name, "teacher_logits_BLV", s);
      expect(s.maxAbs).toBeLessThan(1e-3);
      tf.dispose([x, logits]);
    });

    it("KV-cache forward, scale by scale, = masked forward on the same tokens (CFG-doubled batch)", async () => {
      const x = await f32("var_input_BLCv");
      const labels = await labelsOf();
      const B = labels.length;
      // Conditional rows then "no class" rows, as the sampler runs classifier-free guidance.
      const labels2 = [...labels, ...new Array(B).fill(model.config.numClasses)];
      const x2 = tf.concat([x, x]);
      const masked = model.forward(labels2, x2);

      const before = tf.memory().numTensors;
      const cond = model.condition(labels2);
      const cache = model.newCache();
      const perScale: tf.Tensor[] = [];
      let h = model.embedFirstScale(cond);
      for (let si = 0; si < K(); si++) {
        perScale.push(model.forwardScale(h, cond, cache));
        h.dispose();
        if (si + 1 < K()) {
          const [b, e] = model.beginEnds[si + 1];
          const tokens = tf.slice(x2, [0, b - model.firstL, 0], [2 * B, e - b, -1]); // (2B, pn², Cvae)
          h = model.embedScale(si + 1, tokens);
          tokens.dispose();
        }
      }
      expect(cache.complete).toBe(true);
      expect(cache.length).toBe(model.L);
      const cached = tf.concat(perScale, 1);
      const s = compare(await cached.data(), await masked.data());
      report(bundle.name, "kv-cache vs masked forward (all scales, 2B rows)", s);
      expect(s.maxAbs).toBeLessThan(1e-4);
      const teacher = toFloat32(await host("teacher_logits_BLV"));
      const halfT = tf.slice(cached, [0, 0, 0], [B, -1, -1]);
      const half = await halfT.data();
      halfT.dispose();
      const s2 = compare(half, teacher);
      report(bundle.name, "kv-cache vs teacher_logits_BLV", s2);
      expect(s2.maxAbs).toBeLessThan(1e-3);
      tf.dispose([...perScale, cached]);
      cond.dispose();
      cache.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, x2, masked]);
    });

    it("train_var_loss and every grad_var.* (label smoothing 0.1, weight 1/L)", async () => {
      const x = await f32("var_input_BLCv");
      const labels = await labelsOf();
      // targets (B, L): each row is the concatenation of that row's indices of every scale
      const idx: Int32Array[] = [];
      for (let si = 0; si < K(); si++) idx.push(toInt32(await host(`idx_s${si}`)));
      const B = labels.length;
      const targets = Array.from({ length: B }, (_, b) => idx.flatMap((t) => Array.from(t.subarray((b * t.length) / B, ((b + 1) * t.length) / B)))).flat();
      const params = new Map(model.namedParameters());
      const gradKeys = io.keys().filter((k) => k.startsWith("grad_var."));
      expect(gradKeys.length).toBeGreaterThan(0);
      const vars = model.trainableParameters().map((p) => p.value);
      const { value, grads } = tf.variableGrads(() => varLoss(model.forward(labels, x), targets, { labelSmoothing: 0.1 }), vars);
      const loss = (await value.data())[0];
      const wantLoss = toFloat32(await host("train_var_loss"))[0];
      const relLoss = Math.abs(loss - wantLoss) / Math.abs(wantLoss);
      console.log(`[parity] ${bundle.name} train_var_loss: got=${loss} want=${wantLoss} rel=${relLoss.toExponential(3)}`);
      expect(relLoss).toBeLessThan(1e-3);
      for (const k of gradKeys) {
        const name = k.slice("grad_var.".length);
        const p = params.get(name);
        expect(p, `${name} is a parameter of this configuration`).toBeDefined();
        const g = fromInternal(grads[p!.value.name], p!.opts.layout);
        const want = await host(k);
        expect(g.shape).toEqual(want.shape);
        const s = compare(await g.data(), toFloat32(want));
        report(bundle.name, k, s);
        expect(s.scaledMax).toBeLessThan(1e-3);
        g.dispose();
      }
      tf.dispose([x, value, ...Object.values(grads)]);
    });

    it("fromCheckpoint (var.pth, and var.safetensors when present) infers the configuration and gives the same logits", async () => {
      const x = await f32("var_input_BLCv");
      const labels = await labelsOf();
      const a = model.forward(labels, x);
      for (const file of ["var.pth", "var.safetensors"].filter((f) => bundle.has(f))) {
        const store = await openCheckpoint(bundle.file(file));
        // heads are readable from shapes only with attn_l2_norm (scale_mul_1H11)
        const known = model.config.attnL2Norm ? {} : { numHeads: model.config.numHeads };
        const m = await VarTransformer.fromCheckpoint(store, { config: known }); // patch_nums from the lvl_1L buffer
        await store.close();
        expect(m.config).toEqual(model.config);
        const b = m.forward(labels, x);
        const s = compare(await b.data(), await a.data());
        console.log(`[parity] ${bundle.name} fromCheckpoint(${file}) vs loaded model: max_abs=${s.maxAbs}`);
        expect(s.maxAbs).toBe(0);
        tf.dispose(b);
        m.dispose();
      }
      tf.dispose([x, a]);
    });
  });
}

describe("bad input", () => {
  const bundle: Bundle = bundles[0];
  let sd: Map<string, HostTensor>;
  let model: VarTransformer;
  beforeAll(async () => {
    const store = await openCheckpoint(bundle.file("var.pth"));
    sd = new Map();
    for (const k of store.keys()) sd.set(k, await store.read(k));
    await store.close();
    model = new VarTransformer(configOf(bundle.meta));
    await model.loadStateDict(sd);
  });
  afterAll(() => model?.dispose());

  it("a checkpoint with missing, extra and wrong-shaped keys: one error listing them", async () => {
    const bad = new Map(sd);
    bad.delete("blocks.1.attn.proj.bias");
    bad.delete("head.weight");
    bad.set("blocks.99.ffn.fc1.weight", sd.get("blocks.0.ffn.fc1.weight")!);
    const w = sd.get("word_embed.weight")!;
    bad.set("word_embed.weight", { ...w, shape: [w.shape[1], w.shape[0]] });
    const err = await new VarTransformer(configOf(bundle.meta)).loadStateDict(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDictError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/missing keys \(2\): blocks\.1\.attn\.proj\.bias, head\.weight/);
    expect(msg).toMatch(/unexpected keys \(1\): blocks\.99\.ffn\.fc1\.weight/);
    expect(msg).toMatch(/shape mismatches \(1\): word_embed\.weight expected \[\d+,\d+\] found \[\d+,\d+\]/);
    console.log(msg);
  });

  it("a checkpoint of another configuration (depth, shared AdaLN): listed, not loaded", async () => {
    const c = configOf(bundle.meta);
    const other = new VarTransformer(varConfig({ ...c, depth: c.depth + 1, sharedAln: !c.sharedAln }));
    const err = await other.loadStateDict(sd).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDictError);
    expect((err as Error).message).toMatch(/missing keys .*blocks\.\d+\./);
    expect((err as StateDictError).problems.unexpected.length).toBeGreaterThan(0);
  });

  it("buffers missing from a non-strict load are recomputed", async () => {
    const noBuf = new Map([...sd].filter(([k]) => !/lvl_1L|attn_bias_for_masking|zero_k_bias/.test(k)));
    const m = new VarTransformer(configOf(bundle.meta));
    const problems = await m.loadStateDict(noBuf, { strict: false });
    expect(problems.missing.length).toBe(2 + m.config.depth);
    const mask = await m.attn_bias_for_masking.value.data();
    expect(Array.from(mask)).toEqual(Array.from(toFloat32(sd.get("attn_bias_for_masking")!)));
    expect(Array.from(await m.lvl_1L.value.data())).toEqual(Array.from(toInt32(sd.get("lvl_1L")!)));
    m.dispose();
  });

  it("labels out of range, wrong input shapes: clear errors", () => {
    const { numClasses, cvae, patchNums } = model.config;
    const x = tf.zeros([2, model.L - model.firstL, cvae]);
    expect(() => model.forward([0, numClasses + 1], x)).toThrow(new RegExp(`class labels must be integers in \\[0, ${numClasses}\\].*got ${numClasses + 1}`));
    expect(() => model.forward([-1, 0], x)).toThrow(/got -1/);
    expect(() => model.forward([0.5, 0], x)).toThrow(/got 0.5/);
    expect(() => model.forward([0, 1, 2], x)).toThrow(/must have shape \(B, L - first_l, Cvae\)/);
    expect(() => model.forward([0, 1], tf.zeros([2, model.L, cvae]))).toThrow(/must have shape/);
    expect(() => model.forward([0, 1], x, { condDropRate: 0.1 })).toThrow(/seeded uniform source/);
    expect(() => model.condition(tf.zeros([2, 1], "int32"))).toThrow(/labels must have shape \(B\)/);
    const cond = model.condition([0, 1]);
    const cache = model.newCache();
    const wrong = tf.zeros([2, 4, model.config.embedDim]) as tf.Tensor3D;
    expect(() => model.forwardScale(wrong, cond, cache)).toThrow(/scale 0 input must have shape \(B, 1,/);
    expect(() => model.embedScale(0, tf.zeros([2, 1, cvae]))).toThrow(/scale index must be in \[1,/);
    expect(() => model.embedScale(1, tf.zeros([2, 3, cvae]))).toThrow(new RegExp(`\\(B, ${patchNums[1] ** 2}, ${cvae}\\)`));
    cond.dispose();
    cache.dispose();
    tf.dispose([x, wrong]);
  });

  it("loss: wrong target shape or out-of-range index, clear errors", () => {
    const { vocabSize } = model.config;
    const logits = tf.zeros([2, model.L, vocabSize]);
    const ok = new Array(2 * model.L).fill(0);
    expect(() => varLoss(logits, ok.slice(1))).toThrow(new RegExp(`targets must have shape \\(B, L\\) = \\[2,${model.L}\\]`));
    expect(() => varLoss(logits, ok.map((v, i) => (i === 5 ? vocabSize : v)))).toThrow(new RegExp(`target index ${vocabSize} out of range \\[0, ${vocabSize}\\)`));
    expect(() => varLoss(logits, ok, { labelSmoothing: 2 })).toThrow(/labelSmoothing must be in \[0, 1\]/);
    logits.dispose();
  });

  it("drop path: the official per-block rates, per-sample draws after the class dropout, a dropped branch adds nothing", async () => {
    expect(dropPathRates(0.1, 3)).toEqual([0, 0.05, 0.1]); // torch.linspace(0, 0.1, 3)
    expect(dropPathRates(0.1, 1)).toEqual([0]);
    const { cvae, depth } = model.config;
    expect(depth).toBe(2); // block 0 has rate 0, block 1 the full rate
    const x = tf.randomNormal([2, model.L - model.firstL, cvae], 0, 1, "float32", 2);
    const seq = (values: number[]) => {
      let i = 0;
      return { random: () => values[i++ % values.length], count: () => i };
    };
    const all = seq([0.99]);
    const dropped = model.forward([1, 2], x, { dropPathRate: 0.2, random: all.random });
    expect(all.count()).toBe(2 * 2); // block 1: B draws for attention, B for the FFN
    // By hand: block 0 as it is, block 1 skipped (both branches dropped for every sample).
    const ref = tf.tidy(() => {
      const cond = model.condition([1, 2]);
      const sos = tf.add(tf.expandDims(cond.classEmb, 1), model.pos_start.value);
      let h = tf.concat([sos, model.word_embed.forward(x)], 1) as tf.Tensor3D;
      h = tf.add(h, tf.add(model.lvl_embed.forward(model.lvl_1L.value), model.pos_1LC.value));
      h = model.blocks.items[0].forward(h, cond.blockMods[0], model.attn_bias_for_masking.value);
      const out = model.head.forward(model.head_nm.forward(h, cond.headMod));
      cond.dispose();
      return out;
    });
    const kept = model.forward([1, 2], x, { dropPathRate: 0.2, random: () => 0 });
    const mixed = seq([0.99, 0, 0.99, 0]); // sample 0 dropped, sample 1 kept (×1/0.8) in both branches
    const mix = model.forward([1, 2], x, { dropPathRate: 0.2, random: mixed.random });
    const plain = model.forward([1, 2], x);
    const withClass = seq([0.9, 0.9, 0, 0, 0, 0]);
    const both = model.forward([1, 2], x, { condDropRate: 0.5, dropPathRate: 0.2, random: withClass.random });
    expect(withClass.count()).toBe(2 + 2 * 2); // class dropout's B draws first
    const [d, r, k, m, p, b] = await Promise.all([dropped, ref, kept, mix, plain, both].map((t) => t.data()));
    expect(compare(d, r).maxAbs).toBe(0);
    expect(compare(b, k).maxAbs).toBe(0); // no class dropped (0.9 ≥ 0.5), every branch kept
    const half = d.length / 2;
    expect(compare(m.subarray(0, half), d.subarray(0, half)).maxAbs).toBe(0);
    expect(compare(m.subarray(half), k.subarray(half)).maxAbs).toBe(0);
    expect(compare(k, p).maxAbs).toBeGreaterThan(0); // kept branches are scaled by 1/keep
    expect(() => model.forward([1, 2], x, { dropPathRate: 0.1 })).toThrow(/seeded uniform source/);
    expect(() => model.forward([1, 2], x, { dropPathRate: 1, random: () => 0 })).toThrow(/dropPathRate must be in \[0, 1\)/);
    tf.dispose([x, dropped, ref, kept, mix, plain, both]);
  });

  it("class dropout draws from the given source", async () => {
    const { numClasses, cvae } = model.config;
    const x = tf.randomNormal([2, model.L - model.firstL, cvae], 0, 1, "float32", 1);
    const dropped = model.forward([1, 2], x, { condDropRate: 0.5, random: () => 0.2 }); // every row dropped
    const uncond = model.forward([numClasses, numClasses], x);
    const kept = model.forward([1, 2], x, { condDropRate: 0.5, random: () => 0.7 });
    const plain = model.forward([1, 2], x);
    const [d, u, k, p] = await Promise.all([dropped.data(), uncond.data(), kept.data(), plain.data()]);
    expect(compare(d, u).maxAbs).toBe(0);
    expect(compare(k, p).maxAbs).toBe(0);
    expect(compare(k, u).maxAbs).toBeGreaterThan(0);
    tf.dispose([x, dropped, uncond, kept, plain]);
  });
});
