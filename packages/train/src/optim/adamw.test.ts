/**
 * The official optimizer recipe against PyTorch: param groups, the schedule,
 * clipping and AdamW steps equal torch 1.13's on the same gradients
 * (test-fixtures/train-adamw, made by tools/fixtures/make_adamw_reference.py
 * with the official lr_control.py).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Layout, Module, openCheckpoint, type Parameter, registerGradients, toFloat32, toInternalLayout } from "@nextscale/core";
import { compare, FIXTURES } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { AdamW } from "./adamw.js";
import { clipGradNorm } from "./clip.js";
import { createOfficialOptimizer } from "./official.js";
import { paramGroups } from "./param-groups.js";
import { applySchedule, lrWdAnnealing, OfficialSchedule } from "./schedule.js";

registerGradients();
const DIR = join(FIXTURES, "train-adamw");
const meta = JSON.parse(readFileSync(join(DIR, "meta.json"), "utf8"));
const schedules = JSON.parse(readFileSync(join(DIR, "schedule.json"), "utf8"));

/** The fixture's model: its parameters by state-dict name; 2-D linear weights in core's (in, out) layout as core's Linear keeps them. */
class Tiny extends Module {
  constructor(shapes: Record<string, number[]>) {
    super();
    for (const [n, s] of Object.entries(shapes)) {
      const layout: Layout = s.length === 2 && n.endsWith(".weight") && !/emb/.test(n) ? "linear-io" : "torch";
      this.param(n, s, layout);
    }
  }
}

const store = await openCheckpoint(join(DIR, "steps.safetensors"));
const read = async (k: string) => toFloat32(await store.read(k));
const toInternal = (p: Parameter, a: Float32Array) =>
  tf.tensor(p.opts.layout === "torch" ? a : toInternalLayout(a, p.shape, p.opts.layout, new Float32Array(a.length)), p.internalShape);

async function freshModel(): Promise<Tiny> {
  const m = new Tiny(meta.shapes);
  for (const [n, p] of m.namedParameters()) p.setTorchHost(await read(`init.${n}`));
  return m;
}

describe("AdamW, the official recipe = torch.optim.AdamW + clip_grad_norm_ + lr_wd_annealing", () => {
  it("param groups: the official filter_params split", () => {
    const m = new Tiny(meta.shapes);
    const groups = paramGroups(m);
    expect(groups.map((g) => ({ params: g.params.map(([n]) => n), wd_sc: g.wdScale, lr_sc: g.lrScale }))).toEqual(meta.groups);
  });

  it("the schedule: every type, every iteration, as the official lr_wd_annealing", () => {
    let worst = 0;
    for (const r of schedules.runs) {
      for (let it = 0; it < r.max_it; it++) {
        const got = lrWdAnnealing(it, { sche: r.sche, peakLr: r.peak_lr, wd: r.wd, wdEnd: r.wd_end, wpIt: r.wp_it, maxIt: r.max_it, wp0: r.wp0, wpe: r.wpe });
        worst = Math.max(worst, Math.abs(got.lr - r.lr[it]) / Math.abs(r.lr[it]), Math.abs(got.weightDecay - r.weight_decay[it]) / Math.max(Math.abs(r.weight_decay[it]), 1e-300));
      }
    }
    console.log(`[parity] schedule: ${schedules.runs.length} runs, max relative error ${worst.toExponential(3)}`);
    expect(worst).toBeLessThan(1e-12);
    const s = new OfficialSchedule({ epochs: 250, itersPerEpoch: 100, globalBatch: 768 });
    expect(s.options.peakLr).toBeCloseTo(3e-4, 18);
    expect(s.options).toMatchObject({ sche: "lin0", wd: 0.05, wdEnd: 0.05, wpIt: 500, maxIt: 25000, wp0: 0.005, wpe: 0.01 });
    expect(s.at(0).lr).toBeCloseTo(3e-4 * 0.005, 15);
    expect(s.at(24999).lr).toBeCloseTo(3e-4 * 0.01, 15);
    expect(() => lrWdAnnealing(5, { sche: "linx", peakLr: 1, wd: 0, wdEnd: 0, wpIt: 0, maxIt: 10 })).toThrow(/unknown schedule type "linx"/);
  });

  it("steps on the fixture's gradients equal torch's within 1e-6 relative (state saved and restored midway)", async () => {
    const model = await freshModel();
    const s = meta.schedule;
    const o = meta.optimizer;
    let { optimizer, schedule } = createOfficialOptimizer(model, { epochs: s.ep, itersPerEpoch: s.iters_train, globalBatch: o.batch });
    expect(schedule.options.wpIt).toBe(s.wp_it);
    expect(optimizer.betas).toEqual(o.betas);
    expect(optimizer.eps).toBe(o.eps);
    expect(optimizer.gradClip).toBe(o.tclip);
    const params = model.namedParameters();
    for (let k = 0; k < meta.steps.length; k++) {
      const st = meta.steps[k];
      if (k === 3) {
        // Round-trip the state through plain data into a new optimizer.
        const saved = await optimizer.state();
        optimizer.dispose();
        optimizer = createOfficialOptimizer(model, { epochs: s.ep, itersPerEpoch: s.iters_train, globalBatch: o.batch }).optimizer;
        optimizer.loadState(structuredClone(saved));
        expect(await optimizer.state()).toEqual(saved);
      }
      schedule.apply(optimizer, st.g_it);
      optimizer.groups.forEach((g, i) => {
        expect(g.lr).toBeCloseTo(st.lr[i], 18);
        expect(g.weightDecay).toBeCloseTo(st.weight_decay[i], 18);
      });
      const grads: Record<string, tf.Tensor> = {};
      for (const [n, p] of params) if (!st.no_grad.includes(n)) grads[p.value.name] = toInternal(p, await read(`step${k}.grad.${n}`));
      const norm = optimizer.step(grads)!;
      tf.dispose(Object.values(grads));
      const gotNorm = (await norm.data())[0];
      const normErr = Math.abs(gotNorm - st.total_norm) / st.total_norm;
      norm.dispose();
      // Parameters: per-element relative error. Moments: relative to each tensor's largest magnitude,
      // since torch's CPU kernels fuse the multiply-add (one rounding), so an element where m·β1 and
      // g·(1 − β1) nearly cancel differs by float32 rounding of the terms, large relative to the tiny sum.
      const worst = { param: 0, expAvg: 0, expAvgSq: 0, expAvgElem: 0 };
      const state = await optimizer.state();
      for (const [n, p] of params) {
        const t = p.toTorch();
        const got = (await t.data()) as Float32Array;
        t.dispose();
        worst.param = Math.max(worst.param, compare(got, await read(`step${k}.param.${n}`)).maxRel);
        const m = compare(state.params[n].expAvg, await read(`step${k}.exp_avg.${n}`));
        worst.expAvg = Math.max(worst.expAvg, m.scaledMax);
        worst.expAvgElem = Math.max(worst.expAvgElem, m.maxRel);
        worst.expAvgSq = Math.max(worst.expAvgSq, compare(state.params[n].expAvgSq, await read(`step${k}.exp_avg_sq.${n}`)).scaledMax);
        expect(state.params[n].step).toBe(st.step_count[n]);
      }
      console.log(
        `[parity] AdamW${tf.getKernel("AdamWUpdate", tf.getBackend()) ? ` (${tf.getBackend()}'s AdamWUpdate kernel)` : ""} step ${k} (g_it ${st.g_it}, lr ${st.lr[0].toExponential(3)}, norm ${st.total_norm.toFixed(4)}${st.clipped ? " clipped" : ""}${st.no_grad.length ? `, no grad: ${st.no_grad}` : ""}): ` +
          `max rel err param ${worst.param.toExponential(3)}, total norm ${normErr.toExponential(3)}; ` +
          `exp_avg ${worst.expAvg.toExponential(3)} (per element ${worst.expAvgElem.toExponential(3)}), exp_avg_sq ${worst.expAvgSq.toExponential(3)} (to each tensor's max)`,
      );
      expect(worst.param).toBeLessThan(1e-6);
      expect(worst.expAvg).toBeLessThan(1e-6);
      expect(worst.expAvgSq).toBeLessThan(1e-6);
      expect(normErr).toBeLessThan(1e-6);
    }
    optimizer.dispose();
    model.dispose();
  });

  it("gradients from tf.variableGrads, by variable name; clipGradNorm alone; clear errors", async () => {
    const model = await freshModel();
    const opt = new AdamW(paramGroups(model), { gradClip: 0 });
    const w = model.namedParameters().find(([n]) => n === "head.weight")![1];
    const before = await w.toTorch().data();
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.square(w.value)) as tf.Scalar, [w.value]);
    expect(opt.step(grads)).toBeNull();
    tf.dispose([value, ...Object.values(grads)]);
    const after = await w.toTorch().data();
    // lr 0 (never scheduled): only the step count moves.
    expect(Array.from(after)).toEqual(Array.from(before));
    expect((await opt.state()).params["head.weight"].step).toBe(1);

    // No tensors left behind by a step (with clipping), once the moments exist.
    const clipped = new AdamW(paramGroups(model));
    applySchedule(clipped.groups, 1e-3, 0.05);
    const stepOnce = () => {
      const r = tf.variableGrads(() => tf.sum(tf.square(w.value)) as tf.Scalar, [w.value]);
      clipped.step(r.grads)!.dispose();
      tf.dispose([r.value, ...Object.values(r.grads)]);
    };
    stepOnce();
    const live = tf.memory().numTensors;
    for (let k = 0; k < 3; k++) stepOnce();
    expect(tf.memory().numTensors).toBe(live);
    clipped.dispose();

    const c = clipGradNorm({ a: tf.tensor([3, 4]), b: tf.tensor([12]) }, 6.5);
    expect((await c.totalNorm.data())[0]).toBeCloseTo(13, 5);
    expect(Array.from(await c.grads.b.data())[0]).toBeCloseTo(6, 5);
    expect(() => opt.step({ "head.weight": tf.zeros([2, 2]) })).toThrow(/gradient of "head.weight" has shape \[2,2\]/);
    const st = await opt.state();
    st.params["nope"] = { ...st.params["head.weight"] };
    st.params["head.weight"] = { ...st.params["head.weight"], shape: [1] };
    expect(() => opt.loadState(st)).toThrow(/2 problem\(s\)[\s\S]*"head.weight": shape \[1\][\s\S]*"nope" is not a parameter/);
    opt.dispose();
    model.dispose();
  });
});
