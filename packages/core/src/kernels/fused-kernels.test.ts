import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { registerGradients } from "../gradients.js";
import { resampleTensor } from "../resample.js";
import { AdaLNModulate, FUSED_KERNELS, GroupNormAct, GroupNormActGrad, KVAttention, Resample2d } from "@nextscale/contract";
import {
  adaLNModulate,
  adaLNModulateFallback,
  fusedOp,
  groupNorm,
  groupNormFallback,
  hasFusedKernel,
  kvAttention,
  kvAttentionFallback,
  resample2d,
  resample2dFallback,
} from "./index.js";

/** Deterministic values in [-1, 1) (mulberry32). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}
const rand = <R extends tf.Rank>(shape: number[], seed: number, mul = 1) =>
  tf.mul(tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape), mul) as tf.Tensor<R>;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A float64 reference of LN(x)·(1+scale)+shift, x (B, L, C), scale/shift (B, 1, C). */
function adaLNRef(x: ArrayLike<number>, s: ArrayLike<number>, b: ArrayLike<number>, [B, L, C]: number[], eps: number): Float64Array {
  const y = new Float64Array(B * L * C);
  for (let i = 0; i < B; i++) {
    for (let l = 0; l < L; l++) {
      const o = (i * L + l) * C;
      let mu = 0;
      for (let c = 0; c < C; c++) mu += x[o + c];
      mu /= C;
      let v = 0;
      for (let c = 0; c < C; c++) v += (x[o + c] - mu) ** 2;
      const r = 1 / Math.sqrt(v / C + eps);
      for (let c = 0; c < C; c++) y[o + c] = (x[o + c] - mu) * r * (1 + s[i * C + c]) + b[i * C + c];
    }
  }
  return y;
}

/** A float64 reference of softmax(scale·q·kᵀ)·v per (batch, head). */
function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, BH: number, Lq: number, Lk: number, c: number, scale: number) {
  const out = new Float64Array(BH * Lq * c);
  const p = new Float64Array(Lk);
  for (let h = 0; h < BH; h++) {
    for (let i = 0; i < Lq; i++) {
      let max = -Infinity;
      for (let j = 0; j < Lk; j++) {
        let d = 0;
        for (let t = 0; t < c; t++) d += q[(h * Lq + i) * c + t] * k[(h * Lk + j) * c + t];
        p[j] = d * scale;
        max = Math.max(max, p[j]);
      }
      let z = 0;
      for (let j = 0; j < Lk; j++) z += p[j] = Math.exp(p[j] - max);
      for (let t = 0; t < c; t++) {
        let acc = 0;
        for (let j = 0; j < Lk; j++) acc += (p[j] / z) * v[(h * Lk + j) * c + t];
        out[(h * Lq + i) * c + t] = acc;
      }
    }
  }
  return out;
}

interface Case {
  name: string;
  label: string;
  inputs: () => tf.Tensor[];
  op: (...xs: tf.Tensor[]) => tf.Tensor;
  fallback: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Inputs that gradients are taken with respect to. */
  diff: number[];
}

// Shapes of the VAR models: d16 widths, a scale of 10×10 tokens over the 1+4+…+100 cached.
const CASES: Case[] = [
  {
    name: Resample2d,
    label: "bicubic 10→16 rows, area 10→7 columns",
    inputs: () => [rand([2, 10, 10, 32], 1), resampleTensor("bicubic", 10, 16), resampleTensor("area", 10, 7)],
    op: (x, mh, mw) => resample2d(x as tf.Tensor4D, mh as tf.Tensor2D, mw as tf.Tensor2D),
    fallback: (x, mh, mw) => resample2dFallback(x as tf.Tensor4D, mh as tf.Tensor2D, mw as tf.Tensor2D),
    diff: [0],
  },
  {
    name: AdaLNModulate,
    label: "x (2, 100, 64)",
    inputs: () => [rand([2, 100, 64], 2, 3), rand([2, 1, 64], 3), rand([2, 1, 64], 4)],
    op: (x, s, b) => adaLNModulate(x as tf.Tensor3D, s as tf.Tensor3D, b as tf.Tensor3D, 1e-6),
    fallback: (x, s, b) => adaLNModulateFallback(x as tf.Tensor3D, s as tf.Tensor3D, b as tf.Tensor3D, 1e-6),
    diff: [0, 1, 2],
  },
  {
    name: KVAttention,
    label: "q (2, 4, 100, 16) over 230 keys, scale 0.25",
    inputs: () => [rand([2, 4, 100, 16], 5), rand([2, 4, 230, 16], 6), rand([2, 4, 230, 16], 7)],
    op: (q, k, v) => kvAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 0.25),
    fallback: (q, k, v) => kvAttentionFallback(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 0.25),
    diff: [0, 1, 2],
  },
  {
    // a coarse scale: small enough for wasm's batched path; scale 1 as with attn_l2_norm
    name: KVAttention,
    label: "q (2, 4, 4, 16) over 5 keys, scale 1",
    inputs: () => [rand([2, 4, 4, 16], 8, 4), rand([2, 4, 5, 16], 9), rand([2, 4, 5, 16], 10)],
    op: (q, k, v) => kvAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 1),
    fallback: (q, k, v) => kvAttentionFallback(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 1),
    diff: [0, 1, 2],
  },
  {
    name: GroupNormAct,
    label: "x (2, 6, 5, 32), 8 groups, SiLU",
    inputs: () => [rand([2, 6, 5, 32], 11, 3), tf.add(rand([32], 12, 0.5), 1), rand([32], 13)],
    op: (x, g, b) => groupNorm(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 8, 1e-6, true),
    fallback: (x, g, b) => groupNormFallback(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 8, 1e-6, true),
    diff: [0, 1, 2],
  },
  {
    // statistics far from 0 (mean 5, std 0.06): float32 sums of squares would lose them
    name: GroupNormAct,
    label: "x (1, 7, 7, 12), 3 groups, mean 5, no SiLU",
    inputs: () => [tf.add(rand([1, 7, 7, 12], 14, 0.1), 5), rand([12], 15), rand([12], 16)],
    op: (x, g, b) => groupNorm(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 3, 1e-5, false),
    fallback: (x, g, b) => groupNormFallback(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 3, 1e-5, false),
    diff: [0, 1, 2],
  },
];

/** GroupNorm (+ SiLU) in float64: NHWC x, per (image, group) statistics, biased variance. */
function groupNormRef(X: ArrayLike<number>, G: ArrayLike<number>, Bt: ArrayLike<number>, [B, H, W, C]: number[], groups: number, eps: number, silu: boolean): Float64Array {
  const out = new Float64Array(B * H * W * C);
  const cg = C / groups;
  for (let b = 0; b < B; b++)
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < H * W; p++) for (let c = g * cg; c < (g + 1) * cg; c++) idx.push((b * H * W + p) * C + c);
      const mean = idx.reduce((s, i) => s + X[i], 0) / idx.length;
      const v = idx.reduce((s, i) => s + (X[i] - mean) ** 2, 0) / idx.length;
      for (const i of idx) {
        const y = ((X[i] - mean) / Math.sqrt(v + eps)) * G[i % C] + Bt[i % C];
        out[i] = silu ? y / (1 + Math.exp(-y)) : y;
      }
    }
  return out;
}

describe("fused ops: fallbacks against float64 references", () => {
  it("groupNorm is GroupNorm then (optionally) SiLU, on the fallback and on the engine path", async () => {
    for (const c of CASES.filter((k) => k.name === GroupNormAct)) {
      const [x, g, b] = c.inputs();
      const silu = c.label.endsWith(", SiLU");
      const groups = x.shape[3] === 32 ? 8 : 3;
      const eps = silu ? 1e-6 : 1e-5;
      const want = groupNormRef(await x.data(), await g.data(), await b.data(), x.shape, groups, eps, silu);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (const [how, f] of [
        ["fallback", c.fallback],
        [hasFusedKernel(GroupNormAct) ? `${tf.getBackend()} kernel` : "op (fallback: no kernel here)", c.op],
      ] as const) {
        const err = maxAbs(await f(x, g, b).data(), want);
        console.log(`[kernel] ${tf.getBackend()} GroupNormAct ${c.label} ${how} vs float64: max_abs=${err.toExponential(3)} (scale ${scale.toFixed(2)})`);
        expect(err).toBeLessThan(2e-5 * Math.max(1, scale));
      }
    }
  });


  it("resample2d is M·X·Mᵀ per channel", async () => {
    const [x, mh, mw] = CASES[0].inputs();
    const got = await resample2dFallback(x as tf.Tensor4D, mh as tf.Tensor2D, mw as tf.Tensor2D).data();
    const [B, H, W, C] = x.shape;
    const [h, w] = [mh.shape[0], mw.shape[0]];
    const [X, Mh, Mw] = [await x.data(), await mh.data(), await mw.data()];
    const want = new Float64Array(B * h * w * C);
    for (let b = 0; b < B; b++)
      for (let o = 0; o < h; o++)
        for (let p = 0; p < w; p++)
          for (let c = 0; c < C; c++) {
            let acc = 0;
            for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) acc += Mh[o * H + i] * X[((b * H + i) * W + j) * C + c] * Mw[p * W + j];
            want[((b * h + o) * w + p) * C + c] = acc;
          }
    const err = maxAbs(got, want);
    console.log(`[kernel] ${tf.getBackend()} Resample2d fallback vs float64: max_abs=${err.toExponential(3)}`);
    expect(err).toBeLessThan(1e-5);
  });

  it("adaLNModulate is LN(x)·(1+scale)+shift", async () => {
    const [x, s, b] = CASES[1].inputs();
    const got = await adaLNModulateFallback(x as tf.Tensor3D, s as tf.Tensor3D, b as tf.Tensor3D, 1e-6).data();
    const want = adaLNRef(await x.data(), await s.data(), await b.data(), x.shape, 1e-6);
    const err = maxAbs(got, want);
    console.log(`[kernel] ${tf.getBackend()} AdaLNModulate fallback vs float64: max_abs=${err.toExponential(3)}`);
    expect(err).toBeLessThan(1e-5);
  });

  it("kvAttention is softmax(scale·q·kᵀ)·v", async () => {
    const [q, k, v] = CASES[2].inputs();
    const got = await kvAttentionFallback(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, 0.25).data();
    const [B, H, Lq, c] = q.shape;
    const want = attentionRef(await q.data(), await k.data(), await v.data(), B * H, Lq, k.shape[2]!, c, 0.25);
    const err = maxAbs(got, want);
    console.log(`[kernel] ${tf.getBackend()} KVAttention fallback vs float64: max_abs=${err.toExponential(3)}`);
    expect(err).toBeLessThan(1e-5);
  });

  it("bad shapes are clear errors", () => {
    const x4 = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    expect(() => resample2d(x4, tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 4]) as tf.Tensor2D)).toThrow(
      /resample2d: expected x \(B, H, W, C\), mh \(h, H\), mw \(w, W\); got \[1, 4, 4, 2\], \[2, 3\], \[2, 4\]/,
    );
    const x3 = tf.zeros([2, 5, 8]) as tf.Tensor3D;
    expect(() => adaLNModulate(x3, tf.zeros([2, 5, 8]) as tf.Tensor3D, tf.zeros([2, 1, 8]) as tf.Tensor3D)).toThrow(
      /adaLNModulate: expected x \(B, L, C\), scale and shift \(B, 1, C\)/,
    );
    const q = tf.zeros([1, 2, 3, 4]) as tf.Tensor4D;
    expect(() => kvAttention(q, tf.zeros([1, 2, 5, 4]) as tf.Tensor4D, tf.zeros([1, 2, 6, 4]) as tf.Tensor4D, 1)).toThrow(
      /kvAttention: expected q \(B, H, Lq, c\), k and v \(B, H, Lk, c\)/,
    );
  });
});

/** A loss that weighs every output element differently, so each gradient entry matters. */
function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], diff: number[]): tf.Tensor[] {
  const g = tf.grads((...d: tf.Tensor[]) => {
    const all = inputs.map((t, i) => (diff.includes(i) ? d[diff.indexOf(i)] : t));
    const y = f(...all);
    return tf.sum(tf.mul(y, rand(y.shape, 99)));
  });
  return g(diff.map((i) => inputs[i]));
}

describe.each(CASES)("fused op $name through the engine: $label", (c) => {
  beforeAll(() => registerGradients());
  let temporary = false;
  afterEach(() => {
    if (temporary) tf.unregisterKernel(c.name, tf.getBackend());
    temporary = false;
  });

  it("the backend's fast kernel matches the fallback", async (ctx) => {
    if (!hasFusedKernel(c.name)) ctx.skip(`no fast ${c.name} kernel registered on ${tf.getBackend()}`);
    const inputs = c.inputs();
    const err = maxAbs(await c.op(...inputs).data(), await c.fallback(...inputs).data());
    console.log(`[kernel] ${tf.getBackend()} ${c.name} ${c.label} fast vs fallback: max_abs=${err.toExponential(3)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it("its gradient (the kernel path's, written from the math) matches autodiff of the fallback", async () => {
    // Without a fast kernel, a stand-in kernel made of the fallback's ops takes the engine path.
    if (!hasFusedKernel(c.name)) {
      temporary = true;
      tf.registerKernel({
        kernelName: c.name,
        backendName: tf.getBackend(),
        kernelFunc: ({ inputs, attrs }) => {
          const xs = Object.values(inputs) as tf.Tensor[];
          const a = attrs as { eps?: number; scale?: number };
          if (c.name === AdaLNModulate) return adaLNModulateFallback(...(xs as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]), a.eps!);
          if (c.name === KVAttention) return kvAttentionFallback(...(xs as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]), a.scale!);
          if (c.name === GroupNormAct) {
            const g = attrs as unknown as { groups: number; eps: number; silu: boolean };
            return groupNormFallback(...(xs as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D]), g.groups, g.eps, g.silu);
          }
          return resample2dFallback(...(xs as [tf.Tensor4D, tf.Tensor2D, tf.Tensor2D]));
        },
      });
    }
    expect(hasFusedKernel(c.name)).toBe(true);
    const inputs = c.inputs();
    const viaKernel = gradsOf(c.op, inputs, c.diff);
    const viaFallback = gradsOf(c.fallback, inputs, c.diff);
    for (let i = 0; i < c.diff.length; i++) {
      const want = await viaFallback[i].data<"float32">();
      const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      const err = maxAbs(await viaKernel[i].data(), want);
      const path = c.name === GroupNormAct && hasFusedKernel(GroupNormActGrad) ? `${tf.getBackend()}'s GroupNormActGrad kernel` : "plain ops";
      console.log(`[kernel] ${tf.getBackend()} ${c.name} ${c.label} d/input${c.diff[i]} (gradient: ${path}): max_abs=${err.toExponential(3)} (scale ${scale.toExponential(2)})`);
      expect(err).toBeLessThan(1e-4 * Math.max(1, scale));
    }
  });
});

it("the contract's FUSED_KERNELS are exactly the kernels core's ops dispatch", async () => {
  // which kernel name each op runs under: a stand-in kernel registered under every contract name records it
  const dispatched = new Set<string>();
  const backend = tf.getBackend();
  const saved = FUSED_KERNELS.map((name) => tf.getKernel(name, backend));
  try {
    for (const name of FUSED_KERNELS) {
      if (tf.getKernel(name, backend)) tf.unregisterKernel(name, backend);
      tf.registerKernel({
        kernelName: name,
        backendName: backend,
        kernelFunc: ({ inputs, backend: be }) => {
          dispatched.add(name);
          return tf.getKernel("Identity", backend)!.kernelFunc({ inputs: { x: Object.values(inputs)[0]! }, backend: be, attrs: {} });
        },
      });
    }
    for (const c of CASES) tf.tidy(() => void c.op(...c.inputs()));
  } finally {
    FUSED_KERNELS.forEach((name, i) => {
      tf.unregisterKernel(name, backend);
      if (saved[i]) tf.registerKernel(saved[i]!);
    });
  }
  expect([...dispatched].sort()).toEqual([...FUSED_KERNELS].sort());
  // and a name outside the contract is refused, never silently run on its fallback
  const bogus: tf.GradConfig = { kernelName: "KVAttn", gradFunc: () => ({}) };
  expect(() => fusedOp(bogus, {}, {}, () => tf.scalar(0))).toThrow(/"KVAttn" is not a kernel name of @nextscale\/contract/);
});
