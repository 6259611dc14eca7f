/**
 * GroupNormAct on wasm: the statistics of each (image, group) in one pass
 * over the heap (float64 sums), the normalisation and affine map in a
 * second, written straight into the output; with SiLU, tfjs-wasm's
 * vectorised Sigmoid kernel and one more pass multiply it in place. The
 * fallback runs about a dozen kernels, two of them transposes, and holds
 * their full-size intermediates (d16 decode: 39 GroupNorms, 0.95 s and
 * hundreds of MB at 256×256; see the README). The op and its fallback are
 * `groupNorm` in @nextscale/core (core/src/kernels/group-norm-act.ts).
 */
import { GroupNormAct, type GroupNormActAttrs, type GroupNormActInputs } from "@nextscale/contract";
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, runWasmKernel, type WasmBackend } from "./backend-wasm.js";

function groupNormAct({ inputs, backend, attrs }: KernelArgs<GroupNormActInputs, GroupNormActAttrs>) {
  const be = backend as WasmBackend;
  const { x, gamma, beta } = inputs;
  const { groups, eps, silu } = attrs!;
  const [B, H, W, C] = x.shape;
  const P = H * W;
  const cg = C / groups;
  const out = be.makeOutput(x.shape, "float32");
  // typedArrayFromHeap after makeOutput: allocating may grow (and move) the heap
  const X = be.typedArrayFromHeap(x);
  const Y = be.typedArrayFromHeap(out);
  const G = be.typedArrayFromHeap(gamma);
  const Bt = be.typedArrayFromHeap(beta);
  const sum = new Float64Array(groups);
  const sq = new Float64Array(groups);
  // per channel, in float64: y = (x − μ)·a + β (not x·a + b: with |μ| ≫ σ that cancels in float32)
  const mu = new Float64Array(C);
  const a = new Float64Array(C);
  const n = P * cg;
  for (let img = 0; img < B; img++) {
    const base = img * P * C;
    sum.fill(0);
    sq.fill(0);
    for (let p = 0; p < P; p++) {
      const o = base + p * C;
      for (let g = 0; g < groups; g++) {
        let s = 0;
        let s2 = 0;
        const e = o + (g + 1) * cg;
        for (let i = o + g * cg; i < e; i++) {
          const v = X[i];
          s += v;
          s2 += v * v;
        }
        sum[g] += s;
        sq[g] += s2;
      }
    }
    for (let g = 0; g < groups; g++) {
      const mean = sum[g] / n;
      const rstd = 1 / Math.sqrt(Math.max(0, sq[g] / n - mean * mean) + eps);
      for (let c = g * cg; c < (g + 1) * cg; c++) {
        mu[c] = mean;
        a[c] = rstd * G[c];
      }
    }
    for (let p = 0; p < P; p++) {
      const o = base + p * C;
      for (let c = 0; c < C; c++) Y[o + c] = (X[o + c] - mu[c]) * a[c] + Bt[c];
    }
  }
  if (!silu) return out;
  const s = runWasmKernel("Sigmoid", be, { x: out }, {});
  const Yh = be.typedArrayFromHeap(out);
  const S = be.typedArrayFromHeap(s);
  for (let i = 0; i < Yh.length; i++) Yh[i] *= S[i];
  be.disposeData(s.dataId);
  return out;
}

export const groupNormActConfig: tf.KernelConfig = {
  kernelName: GroupNormAct,
  backendName: "wasm",
  kernelFunc: groupNormAct as unknown as tf.KernelFunc,
};
