import * as tf from "@tensorflow/tfjs-core";
import { Random } from "@nextscale/core";
import { describe, expect, it } from "vitest";
import { varConfig } from "./config.js";
import { initWeights } from "./init.js";
import { VarTransformer } from "./var-transformer.js";

const small = (sharedAln: boolean) =>
  varConfig({ depth: 4, embedDim: 256, numHeads: 4, patchNums: [1, 2, 3, 4], vocabSize: 512, cvae: 8, numClasses: 20, sharedAln });

function stats(x: Float32Array): { mean: number; std: number; maxAbs: number } {
  let s = 0;
  let s2 = 0;
  let m = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
    m = Math.max(m, Math.abs(v));
  }
  const mean = s / x.length;
  return { mean, std: Math.sqrt(s2 / x.length - mean * mean), maxAbs: m };
}

async function values(model: VarTransformer, name: string): Promise<Float32Array> {
  const p = new Map(model.namedParameters()).get(name);
  if (!p) throw new Error(`no parameter ${name}`);
  const t = p.toTorch(); // PyTorch layout: rows of (out, in) weights are output rows
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

/** Rows [from, to) of a (rows, cols) weight. */
const rows = (x: Float32Array, cols: number, from: number, to: number) => x.subarray(from * cols, to * cols);

describe("initWeights (official init_weights with train.py defaults)", () => {
  it("draws each tensor with the scheme's std, zero biases, log 4 attention scales; no tensor leaks", async () => {
    const model = new VarTransformer(small(false));
    const { embedDim: C, depth } = model.config;
    const before = tf.memory().numTensors;
    initWeights(model, new Random(0));
    expect(tf.memory().numTensors - before).toBe(model.namedParameters().length);

    const auto = Math.sqrt(1 / C / 3); // init_std = -1
    const expectStd = async (name: string, want: number, tol: number, select = (x: Float32Array) => x) => {
      const s = stats(select(await values(model, name)));
      console.log(`[init] ${name}: std=${s.std.toExponential(4)} want=${want.toExponential(4)} mean=${s.mean.toExponential(2)}`);
      expect(Math.abs(s.std / want - 1)).toBeLessThan(tol);
      expect(Math.abs(s.mean)).toBeLessThan(5 * want);
    };
    await expectStd("pos_1LC", auto, 0.03);
    await expectStd("class_emb.weight", auto, 0.05);
    await expectStd("blocks.1.attn.mat_qkv.weight", auto, 0.02);
    await expectStd("blocks.1.ffn.fc1.weight", auto, 0.02);
    await expectStd("blocks.2.attn.proj.weight", auto / Math.sqrt(2 * depth), 0.02);
    await expectStd("blocks.2.ffn.fc2.weight", auto / Math.sqrt(2 * depth), 0.02);
    await expectStd("blocks.0.ada_lin.1.weight", auto * 1e-5, 0.02, (x) => rows(x, C, 0, 2 * C)); // γ1, γ2
    await expectStd("blocks.0.ada_lin.1.weight", auto * 0.5, 0.02, (x) => rows(x, C, 2 * C, 6 * C)); // scales, shifts
    await expectStd("head_nm.ada_lin.1.weight", auto * 0.5, 0.02);
    await expectStd("head.weight", auto * 0.02, 0.02);

    for (const name of ["word_embed.bias", "blocks.3.attn.q_bias", "blocks.3.attn.v_bias", "blocks.3.ffn.fc1.bias", "blocks.3.ada_lin.1.bias", "head.bias", "head_nm.ada_lin.1.bias"]) {
      expect(stats(await values(model, name)).maxAbs, name).toBe(0);
    }
    expect(Array.from(await values(model, "blocks.0.attn.scale_mul_1H11"))).toEqual(new Array(4).fill(Math.fround(Math.log(4))));
    // Buffers: lvl_1L = scale of each token, mask 0 where scale(j) ≤ scale(i)
    expect(Array.from(await model.lvl_1L.value.data())).toEqual([0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
    const mask = await model.attn_bias_for_masking.value.data();
    expect([mask[0 * 30 + 0], mask[0 * 30 + 1], mask[4 * 30 + 1], mask[4 * 30 + 5], mask[29 * 30 + 29]]).toEqual([0, -Infinity, 0, -Infinity, 0]);
    model.dispose();
  });

  it("explicit init_std applies to Linear/Embedding weights, never to pos_start/pos_1LC", async () => {
    const model = new VarTransformer(small(false));
    initWeights(model, new Random(1), { initStd: 0.02, initHead: 1, initAdaln: 1, initAdalnGamma: 1 });
    const s = async (n: string) => stats(await values(model, n)).std;
    expect(Math.abs((await s("blocks.0.ffn.fc1.weight")) / 0.02 - 1)).toBeLessThan(0.02);
    expect(Math.abs((await s("head.weight")) / 0.02 - 1)).toBeLessThan(0.03);
    expect(Math.abs((await s("blocks.0.ada_lin.1.weight")) / 0.02 - 1)).toBeLessThan(0.02);
    expect(Math.abs((await s("pos_1LC")) / Math.sqrt(1 / 256 / 3) - 1)).toBeLessThan(0.03);
    model.dispose();
  });

  it("shared AdaLN: ada_gss = randn/√C with γ × init_adaln_gamma, the rest × init_adaln; shared_ada_lin plain", async () => {
    const model = new VarTransformer(small(true));
    const C = model.config.embedDim;
    initWeights(model, new Random(2));
    const gss = await values(model, "blocks.0.ada_gss"); // (1, 1, 6, C)
    const g = stats(gss.subarray(0, 2 * C)).std;
    const r = stats(gss.subarray(2 * C)).std;
    console.log(`[init] ada_gss: gate std=${g.toExponential(4)} rest std=${r.toExponential(4)} (want ${(1e-5 / Math.sqrt(C)).toExponential(4)}, ${(0.5 / Math.sqrt(C)).toExponential(4)})`);
    expect(Math.abs(g / (1e-5 / Math.sqrt(C)) - 1)).toBeLessThan(0.1);
    expect(Math.abs(r / (0.5 / Math.sqrt(C)) - 1)).toBeLessThan(0.05);
    expect(Math.abs(stats(await values(model, "shared_ada_lin.1.weight")).std / Math.sqrt(1 / C / 3) - 1)).toBeLessThan(0.02);
    model.dispose();
  });

  it("same seed, same weights; another seed, other weights; the model then runs", async () => {
    const a = new VarTransformer(small(false));
    const b = new VarTransformer(small(false));
    const c = new VarTransformer(small(false));
    initWeights(a, new Random(7));
    initWeights(b, new Random(7));
    initWeights(c, new Random(8));
    const wa = await values(a, "blocks.1.attn.mat_qkv.weight");
    expect(Array.from(await values(b, "blocks.1.attn.mat_qkv.weight"))).toEqual(Array.from(wa));
    expect(Array.from(await values(c, "blocks.1.attn.mat_qkv.weight"))).not.toEqual(Array.from(wa));
    const x = tf.randomNormal([2, a.L - 1, a.config.cvae], 0, 1, "float32", 3);
    const logits = a.forward([3, a.config.numClasses], x);
    expect(logits.shape).toEqual([2, a.L, a.config.vocabSize]);
    expect(Array.from(await logits.data()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, logits]);
    for (const m of [a, b, c]) m.dispose();
  });

  it("onProgress: after every parameter, counts of parameters and of drawn values up to the totals", () => {
    const model = new VarTransformer(small(false));
    const events: { loaded: number; total: number; key: string; elements: number; totalElements: number }[] = [];
    initWeights(model, new Random(3), { onProgress: (p) => events.push(p) });
    const params = model.trainableParameters();
    expect(events).toHaveLength(params.length);
    expect(events.map((e) => e.loaded)).toEqual(params.map((_, i) => i + 1));
    expect(new Set(events.map((e) => e.total))).toEqual(new Set([params.length]));
    expect(events.at(-1)!.elements).toBe(model.numParameters());
    expect(events.at(-1)!.totalElements).toBe(model.numParameters());
    for (let i = 1; i < events.length; i++) expect(events[i].elements).toBeGreaterThan(events[i - 1].elements);
    expect(events[0].key).toBe(model.namedParameters().find(([, p]) => p.opts.trainable)![0]);
    model.dispose();
  });
});
