import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendFromEnv, initBackend, setTrainingKernels } from "../../index.js";

// Deterministic inputs in [-1, 1).
function rand(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 7, 0x85ebca77)) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x2c1b3c6d) >>> 0;
    x ^= x >>> 12;
    v[i] = -1 + ((x >>> 0) / 2 ** 32) * 2;
  }
  return tf.tensor(v, shape);
}

let backend = "";
beforeAll(async () => {
  backend = await initBackend(backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"]));
  console.log(`backend: ${backend}`);
});
afterAll(() => setTrainingKernels(backend, true));

/** f with the overrides and with tfjs's own kernels: the largest difference relative to the largest value. */
async function compare(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const run = async () => {
    const ys = f();
    const out = await Promise.all((Array.isArray(ys) ? ys : [ys]).map((y) => y.data() as Promise<Float32Array>));
    tf.dispose(ys);
    return out;
  };
  setTrainingKernels(backend, false);
  const ref = await run();
  setTrainingKernels(backend, true);
  const got = await run();
  let worst = 0;
  for (const [k, r] of ref.entries()) {
    expect(got[k].length).toBe(r.length);
    const scale = r.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-30);
    for (let i = 0; i < r.length; i++) worst = Math.max(worst, Math.abs(got[k][i] - r[i]) / scale);
  }
  return worst;
}

// The gradients through these kernels are checked against finite differences in core's gradients.test.ts.
// sizes above the thresholds (TRANSPOSE_MIN_MACS, PER_BATCH_MIN_MACS) unless named as below them
const products: [string, number[], number[], boolean, boolean][] = [
  ["Aᵀ·B (dW of a linear layer, Cᵀ = Bᵀ·A)", [256, 160], [256, 48], true, false],
  ["Aᵀ·B (transpose A)", [256, 32], [256, 256], true, false],
  ["A·Bᵀ (dX of a linear layer)", [192, 128], [96, 128], false, true],
  ["Aᵀ·Bᵀ", [128, 192], [96, 128], true, true],
  ["Aᵀ·B below the size (tfjs's kernel)", [96, 40], [96, 24], true, false],
  ["batched A·Bᵀ below the per-entry size (tfjs's kernel)", [2, 3, 30, 64], [2, 3, 30, 64], false, true],
  ["batched A·Bᵀ, one product per entry", [2, 1, 128, 64], [2, 1, 128, 64], false, true],
  ["batched Aᵀ·B, one product per entry", [2, 64, 128], [2, 64, 128], true, false],
  ["batched A with shared B (folded)", [4, 96, 64], [64, 96], false, false],
  ["batched Aᵀ with shared Bᵀ", [2, 128, 128], [64, 128], true, true],
  ["shared A with batched B", [128, 64], [2, 64, 128], false, false],
];

describe("training kernel overrides", () => {
  it.each(products)("BatchMatMul %s agrees with tfjs's kernel", async (_label, sa, sb, tA, tB) => {
    const a = rand(sa, 1);
    const b = rand(sb, 2);
    const err = await compare(() => tf.matMul(a, b, tA, tB));
    console.log(`${backend} matMul ${JSON.stringify(sa)}${tA ? "ᵀ" : ""}·${JSON.stringify(sb)}${tB ? "ᵀ" : ""}: max relative difference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-5);
    tf.dispose([a, b]);
  });

  const convs: [string, number[], number[], number, "same" | "valid" | tf.backend_util.ExplicitPadding][] = [
    ["3×3 same", [2, 12, 12, 16], [3, 3, 16, 24], 1, "same"],
    ["1×1", [2, 8, 8, 16], [1, 1, 16, 32], 1, "valid"],
    ["3×3 valid", [2, 10, 9, 8], [3, 3, 8, 16], 1, "valid"],
    [
      "3×3 stride 2, pad (0, 1) as the VQ-VAE's downsampling",
      [2, 16, 16, 8],
      [3, 3, 8, 16],
      2,
      [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ],
    ],
    ["3×3 stride 2 same", [1, 15, 14, 8], [3, 3, 8, 8], 2, "same"],
  ];

  it.each(convs)("Conv2DBackpropInput %s agrees with tfjs's kernel", async (label, xs, ws, stride, pad) => {
    const x = rand(xs, 3) as tf.Tensor4D;
    const w = rand(ws, 4) as tf.Tensor4D;
    const dyShape = tf.conv2d(x, w, stride, pad).shape;
    const dy = rand(dyShape, 5) as tf.Tensor4D;
    const err = await compare(() => tf.conv2dTranspose(dy, w, x.shape, stride, pad as "same"));
    console.log(`${backend} conv2d input gradient ${label}: max relative difference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-5);
    tf.dispose([x, w, dy]);
  });
});
