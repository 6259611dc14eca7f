/**
 * Each kernel of the CPU device against its simple reference (reference.ts,
 * float64 loops) and against tfjs-backend-cpu on the same inputs; prints
 * the largest difference relative to the reference's largest value.
 */
import { AdamWUpdate, AdaLNModulate, GeluTanh, GeluTanhGrad, GroupNormAct, GroupNormActGrad, KVAttention, Resample2d } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { deviceInfo, fallbackKernels, register, status } from "./index.js";
import { adaLNModulateRef, conv2dRef, geluTanhGradRef, geluTanhRef, groupNormActGradRef, groupNormActRef, kvAttentionRef, matmulRef, resample2dRef } from "./reference.js";

const built = status().cpu;

function rand(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 7, 0x85ebca77)) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x2c1b3c6d) >>> 0;
    x ^= x >>> 12;
    v[i] = -1 + ((x >>> 0) / 2 ** 32) * 2;
  }
  return v;
}
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const t = (s: number[], seed: number) => tf.tensor(rand(size(s), seed), s);

/** max |got − want| / max |want|. */
function err(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let d = 0;
  let m = 1e-30;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return Number.isNaN(d) ? Infinity : d / m;
}

/** f's result on native and on cpu (inputs are made inside f, on the active backend). */
async function both(f: () => tf.Tensor): Promise<{ native: Float32Array; cpu: Float32Array }> {
  const run = async (b: string) => {
    await tf.setBackend(b);
    const y = tf.tidy(f);
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v;
  };
  const cpu = await run("cpu");
  const native = await run("native");
  return { native, cpu };
}

function check(label: string, r: { native: Float32Array; cpu: Float32Array }, ref?: ArrayLike<number>, tol = 1e-5): void {
  const vsCpu = err(r.native, r.cpu);
  const vsRef = ref ? err(r.native, ref) : undefined;
  console.log(`native ${label}: vs cpu ${vsCpu.toExponential(2)}${vsRef === undefined ? "" : `, vs reference ${vsRef.toExponential(2)}`}`);
  expect(vsCpu).toBeLessThan(tol);
  if (vsRef !== undefined) expect(vsRef).toBeLessThan(tol);
}

describe.skipIf(!built.available)(`native kernels (${built.reason})`, () => {
  beforeAll(async () => {
    register();
    await tf.setBackend("cpu");
    // tfjs-backend-cpu's banner recommending tfjs-node: not this test's advice
    (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
    console.log(`native device: ${deviceInfo().device}`);
  });

  const products: [number[], number[], boolean, boolean][] = [
    [[64, 96], [96, 80], false, false],
    [[96, 64], [96, 80], true, false],
    [[64, 96], [80, 96], false, true],
    [[96, 64], [80, 96], true, true],
    [[3, 17, 33], [3, 33, 9], false, false],
    [[2, 3, 17, 33], [33, 9], false, false], // B shared: folded
    [[2, 33, 17], [33, 9], true, false],
    [[17, 33], [4, 33, 9], false, false], // A shared
    [[2, 4, 40, 16], [2, 4, 50, 16], false, true], // attention scores
  ];
  it.each(products)("BatchMatMul %j · %j (transposeA %s, transposeB %s)", async (sa, sb, tA, tB) => {
    const r = await both(() => tf.matMul(t(sa, 1), t(sb, 2), tA, tB));
    const M = tA ? sa.at(-1)! : sa.at(-2)!;
    const K = tA ? sa.at(-2)! : sa.at(-1)!;
    const N = tB ? sb.at(-2)! : sb.at(-1)!;
    const ref = matmulRef(rand(size(sa), 1), rand(size(sb), 2), size(sa.slice(0, -2)), size(sb.slice(0, -2)), M, N, K, tA, tB);
    check(`matMul ${JSON.stringify(sa)}·${JSON.stringify(sb)} ${tA}/${tB}`, r, ref);
  });

  it("a row of a product does not depend on how many rows come with it (batch independence)", async () => {
    await tf.setBackend("native");
    // (K, N) pairs of var-tiny, d16 and the trainer's; OpenBLAS's kernels compute a row by its position and
    // the number of rows (see kernels.cc: measured on 0.3.21's Zen and SkylakeX kernels), the addon's own does not.
    // The row is placed first, and at row M − 1 (shifted: other rows before it).
    for (const [K, N] of [[512, 128], [128, 128], [160, 8], [32, 32], [1024, 1024], [256, 768], [100, 37]]) {
      const w = t([K, N], 2);
      const row = rand(K, 1);
      const rows = await Promise.all(
        [1, 3, 4, 8, 18, 200].flatMap((M) =>
          [0, M - 1].map(async (at) => {
            const a = rand(M * K, 5);
            a.set(row, at * K);
            const y = tf.matMul(tf.tensor(a, [M, K]), w);
            const v = ((await y.data()) as Float32Array).slice(at * N, (at + 1) * N);
            y.dispose();
            return v;
          }),
        ),
      );
      for (const r of rows) expect(Array.from(r)).toEqual(Array.from(rows[0]));
      w.dispose();
    }
  });

  it.each(["linear", "relu", "elu", "sigmoid", "leakyrelu", "relu6"] as const)("_FusedMatMul with bias and %s", async (activation) => {
    const r = await both(() => tf.fused.matMul({ a: t([2, 30, 40], 1), b: t([40, 24], 2), bias: t([24], 3), activation }));
    check(`fused matMul + bias + ${activation}`, r);
  });

  const convs: [string, number[], number[], number, number, "same" | "valid" | tf.backend_util.ExplicitPadding][] = [
    ["3×3 same", [2, 12, 11, 8], [3, 3, 8, 16], 1, 1, "same"],
    ["1×1", [2, 8, 8, 16], [1, 1, 16, 12], 1, 1, "valid"],
    ["3×3 stride 2, pad (0, 1)", [1, 16, 16, 8], [3, 3, 8, 8], 2, 1, [[0, 0], [0, 1], [0, 1], [0, 0]]],
    ["3×3 dilation 2", [1, 12, 12, 4], [3, 3, 4, 8], 1, 2, "same"],
    ["4×4 valid", [1, 9, 10, 3], [4, 4, 3, 5], 1, 1, "valid"],
    ["3×3 stride 2 valid, last row unused (oneDNN declines)", [1, 8, 8, 4], [3, 3, 4, 4], 2, 1, "valid"],
  ];
  it.each(convs)("Conv2D %s", async (_label, xs, ws, stride, dil, pad) => {
    const r = await both(() => tf.conv2d(t(xs, 1) as tf.Tensor4D, t(ws, 2) as tf.Tensor4D, stride, pad as "same", "NHWC", dil));
    const info = tf.backend_util.computeConv2DInfo(xs as [number, number, number, number], ws as [number, number, number, number], stride, dil, pad, undefined, false, "channelsLast");
    const g = Int32Array.from([info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left]);
    check(`conv2d ${_label}`, r, conv2dRef(g, rand(size(xs), 1), rand(size(ws), 2)));
  });

  it("FusedConv2D with bias and relu", async () => {
    const r = await both(() => tf.fused.conv2d({ x: t([2, 10, 10, 8], 1) as tf.Tensor4D, filter: t([3, 3, 8, 6], 2) as tf.Tensor4D, strides: 1, pad: "same", bias: t([6], 3), activation: "relu" }));
    check("fused conv2d + bias + relu", r);
  });

  it.each(convs.filter((c) => c[4] === 1))("Conv2DBackpropFilter and Conv2DBackpropInput %s", async (label, xs, ws, stride, _dil, pad) => {
    const dyShape = tf.conv2d(t(xs, 1) as tf.Tensor4D, t(ws, 2) as tf.Tensor4D, stride, pad as "same").shape;
    const dx = () => tf.conv2dTranspose(t(dyShape, 3) as tf.Tensor4D, t(ws, 2) as tf.Tensor4D, xs as [number, number, number, number], stride, pad as "same");
    const dw = () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x: t(xs, 1), dy: t(dyShape, 3) }, { strides: stride, pad, dataFormat: "NHWC", filterShape: ws } as unknown as tf.NamedAttrMap) as tf.Tensor;
    check(`conv2d input gradient ${label}`, await both(dx));
    check(`conv2d filter gradient ${label}`, await both(dw));
  });

  it("the im2col + sgemm convolutions (register({ dnnl: false }), the path without oneDNN) against cpu", async () => {
    register({ dnnl: false });
    try {
      for (const [label, xs, ws, stride, dil, pad] of convs) {
        check(`im2col conv2d ${label}`, await both(() => tf.conv2d(t(xs, 1) as tf.Tensor4D, t(ws, 2) as tf.Tensor4D, stride, pad as "same", "NHWC", dil)));
        if (dil !== 1) continue;
        const dyShape = tf.conv2d(t(xs, 1) as tf.Tensor4D, t(ws, 2) as tf.Tensor4D, stride, pad as "same").shape;
        check(`im2col conv2d input gradient ${label}`, await both(() => tf.conv2dTranspose(t(dyShape, 3) as tf.Tensor4D, t(ws, 2) as tf.Tensor4D, xs as [number, number, number, number], stride, pad as "same")));
        const attrs = { strides: stride, pad, dataFormat: "NHWC", filterShape: ws } as unknown as tf.NamedAttrMap;
        check(`im2col conv2d filter gradient ${label}`, await both(() => tf.engine().runKernel("Conv2DBackpropFilter", { x: t(xs, 1), dy: t(dyShape, 3) }, attrs) as tf.Tensor));
      }
    } finally {
      register({ dnnl: true });
    }
  });

  it("im2col convolutions larger than one block (an image split between two), and an image alike at any batch size", async () => {
    // 3×3×64: 9·64 = 576 floats per output position, 8M floats per block, so 14 563 positions; 2·90·90 = 16 200 of them
    const xs = [2, 90, 90, 64];
    const ws = [3, 3, 64, 2];
    const dyShape = [2, 90, 90, 2];
    register({ dnnl: false });
    try {
      check("conv2d in two blocks", await both(() => tf.conv2d(t(xs, 1) as tf.Tensor4D, t(ws, 2) as tf.Tensor4D, 1, "same")));
      check("conv2d input gradient in two blocks", await both(() => tf.conv2dTranspose(t(dyShape, 3) as tf.Tensor4D, t(ws, 2) as tf.Tensor4D, xs as [number, number, number, number], 1, "same")));
      const dw = () => tf.engine().runKernel("Conv2DBackpropFilter", { x: t(xs, 1), dy: t(dyShape, 3) }, { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: ws } as unknown as tf.NamedAttrMap) as tf.Tensor;
      check("conv2d filter gradient in two blocks", await both(dw));
    } finally {
      register({ dnnl: true });
    }
    await tf.setBackend("native");
    for (const dnnl of [false, true]) {
      register({ dnnl });
      const x = t([5, 12, 12, 16], 4);
      const w = t([3, 3, 16, 16], 5);
      const all = await tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same").data();
      const one = await tf.conv2d(tf.slice(x, [3, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D, w as tf.Tensor4D, 1, "same").data();
      expect(Array.from(one), `dnnl ${dnnl}`).toEqual(Array.from(all.subarray(3 * one.length, 4 * one.length)));
      tf.dispose([x, w]);
    }
  });

  const shapes: [number[], number[]][] = [
    [[4, 33], [4, 33]],
    [[4, 33], [33]],
    [[4, 1], [1, 33]],
    [[2, 3, 1, 5], [3, 4, 1]],
    [[2, 4, 4, 3, 1], [2, 1, 1, 3, 1]], // GroupNorm with one channel per group: coalesced to (2, 16, 3) − (2, 0, 1)
    [[1, 6, 1], [6, 1, 1]],
    [[], [7]],
  ];
  const binaries = { add: tf.add, sub: tf.sub, mul: tf.mul, div: tf.div, maximum: tf.maximum, minimum: tf.minimum, squaredDifference: tf.squaredDifference };
  it.each(Object.keys(binaries) as (keyof typeof binaries)[])("binary %s with broadcasting", async (op) => {
    for (const [sa, sb] of shapes) {
      const r = await both(() => binaries[op](t(sa, 1), tf.add(t(sb, 2), op === "div" ? 3 : 0)));
      check(`${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, r);
    }
  });

  const unaries = { exp: tf.exp, log: tf.log, neg: tf.neg, sqrt: tf.sqrt, rsqrt: tf.rsqrt, square: tf.square, relu: tf.relu, sigmoid: tf.sigmoid, tanh: tf.tanh, abs: tf.abs };
  it.each(Object.keys(unaries) as (keyof typeof unaries)[])("unary %s", async (op) => {
    const positive = op === "log" || op === "sqrt" || op === "rsqrt";
    const r = await both(() => unaries[op](positive ? tf.add(t([5, 67], 1), 1.5) : tf.mul(t([5, 67], 1), 4)));
    check(op, r);
  });

  it("sigmoid (its exp is the device's own, vectorised) at the ends of float32's range and on NaN", async () => {
    const xs = [-1000, -100, -88.5, -87, -20, -1e-3, 0, 1e-3, 20, 87, 88.5, 100, 1000, NaN, Infinity, -Infinity];
    const r = await both(() => tf.sigmoid(tf.tensor1d(xs)));
    console.log(`native sigmoid at the range's ends: ${Array.from(r.native).map((v) => v.toPrecision(3)).join(" ")}`);
    xs.forEach((x, i) => {
      if (Number.isNaN(x)) expect(r.native[i]).toBeNaN();
      else expect(Math.abs(r.native[i] - r.cpu[i]), `sigmoid(${x})`).toBeLessThanOrEqual(2e-7 * Math.max(1e-30, r.cpu[i]) + 1e-37);
    });
  });

  it("Transpose, Slice, SplitV and Unpack (strided copies)", async () => {
    check("transpose (0, 2, 1, 3)", await both(() => tf.transpose(t([2, 5, 3, 7], 1), [0, 2, 1, 3])));
    check("transpose (3, 1, 0, 2)", await both(() => tf.transpose(t([2, 5, 3, 7], 1), [3, 1, 0, 2])));
    check("slice", await both(() => tf.slice(t([4, 6, 9], 1), [1, 2, 3], [2, -1, 4])));
    for (const axis of [0, 1, 2]) {
      check(`split axis ${axis}`, await both(() => tf.concat(tf.split(t([6, 9, 12], 1), 3, axis).map((p, i) => tf.mul(p, i + 1)), axis)));
      check(`unstack axis ${axis}`, await both(() => tf.stack(tf.unstack(t([3, 4, 5], 1), axis).map((p, i) => tf.mul(p, i + 1)), axis)));
    }
    check("split sizes [2, 5, 1]", await both(() => tf.concat(tf.split(t([4, 8], 1), [2, 5, 1], 1).map((p, i) => tf.mul(p, i + 1)), 1)));
  });

  it("Softmax over the last axis", async () => {
    check("softmax", await both(() => tf.softmax(tf.mul(t([3, 5, 70], 1), 8))));
  });

  const reductions = { Sum: tf.sum, Mean: tf.mean, Max: tf.max, Min: tf.min };
  it.each(Object.keys(reductions) as (keyof typeof reductions)[])("reduction %s over inner axes and over outer axes, on the device", async (op) => {
    const f = reductions[op];
    const before = fallbackKernels()[op] ?? 0;
    check(`${op} last axis`, await both(() => f(t([6, 50], 1), -1)));
    check(`${op} last two axes, keepDims`, await both(() => f(t([3, 6, 50], 1), [1, 2], true)));
    check(`${op} axis 0`, await both(() => f(t([6, 50], 1), 0)));
    check(`${op} axes 0 and 2 (GroupNorm-like), keepDims`, await both(() => f(t([4, 3, 5, 7], 1), [0, 2], true)));
    check(`${op} axes 0, 1, 2 (a bias gradient)`, await both(() => f(t([2, 5, 6, 9], 1), [0, 1, 2])));
    const nan = await both(() => f(tf.concat([t([3, 4], 1), tf.tensor2d([[NaN, 1, 2, 3]]), t([2, 4], 2)]), 0));
    expect(Array.from(nan.native).map(Number.isNaN)).toEqual(Array.from(nan.cpu).map(Number.isNaN)); // a NaN in a column stays
    check(`${op} axis 0 with a NaN`, { native: nan.native.slice(1), cpu: nan.cpu.slice(1) });
    expect(fallbackKernels()[op] ?? 0).toBe(before);
  });

  it("Concat and PadV2 (block copies)", async () => {
    const before = { Concat: fallbackKernels().Concat ?? 0, PadV2: fallbackKernels().PadV2 ?? 0 };
    for (const axis of [0, 1, 2, 3]) {
      check(`concat axis ${axis}`, await both(() => tf.concat([t([2, 3, 4, 5], 1), t([2, 3, 4, 5], 2), t([2, 3, 4, 5], 3)], axis)));
    }
    check("concat of different widths", await both(() => tf.concat([t([3, 1, 4], 1), t([3, 5, 4], 2), t([3, 2, 4], 3)], 1)));
    check("concat with an empty input", await both(() => tf.concat([t([3, 0], 1), t([3, 4], 2)], 1)));
    check("pad H and W (a convolution's padding)", await both(() => tf.pad(t([2, 5, 6, 3], 1), [[0, 0], [1, 1], [2, 1], [0, 0]])));
    check("pad every axis, constant 1.5", await both(() => tf.pad(t([2, 3, 4], 1), [[1, 0], [0, 2], [3, 1]], 1.5)));
    check("pad the last axis only", await both(() => tf.pad(t([4, 5], 1), [[0, 0], [2, 3]])));
    check("pad the first axis only", await both(() => tf.pad(t([4, 5], 1), [[1, 2], [0, 0]])));
    expect(fallbackKernels().Concat ?? 0).toBe(before.Concat);
    expect(fallbackKernels().PadV2 ?? 0).toBe(before.PadV2);
  });

  it("UnsortedSegmentSum (the gradient of a gather), ids out of range dropped", async () => {
    const before = fallbackKernels().UnsortedSegmentSum ?? 0;
    const ids = [3, 0, 3, 7, 1, 3, -1, 9, 0, 2];
    const r = await both(() => tf.unsortedSegmentSum(t([10, 6], 1), tf.tensor1d(ids, "int32"), 8));
    const x = rand(60, 1);
    const ref = new Float64Array(8 * 6);
    ids.forEach((s, i) => {
      if (s >= 0 && s < 8) for (let j = 0; j < 6; j++) ref[s * 6 + j] += x[i * 6 + j];
    });
    check("unsortedSegmentSum", r, ref);
    check("unsortedSegmentSum of a 3-d x", await both(() => tf.unsortedSegmentSum(t([4, 3, 5], 2), tf.tensor1d([1, 1, 0, 1], "int32"), 3)));
    expect(fallbackKernels().UnsortedSegmentSum ?? 0).toBe(before);
  });

  const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;

  it("AdaLNModulate against its reference and core's fallback formula on cpu", async () => {
    const [B, L, C] = [2, 7, 48];
    const native = await (async () => {
      await tf.setBackend("native");
      const y = run(AdaLNModulate, { x: t([B, L, C], 1), scale: t([B, 1, C], 2), shift: t([B, 1, C], 3) }, { eps: 1e-6 });
      return (await y.data()) as Float32Array;
    })();
    const cpu = (await both(() => {
      const x = t([B, L, C], 1);
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), tf.add(1, t([B, 1, C], 2))), t([B, 1, C], 3));
    })).cpu;
    check("AdaLNModulate", { native, cpu }, adaLNModulateRef(rand(B * L * C, 1), rand(B * C, 2), rand(B * C, 3), B, L, C, 1e-6));
  });

  it("KVAttention against its reference and core's fallback formula on cpu", async () => {
    const [B, H, Lq, Lk, c] = [2, 3, 10, 35, 16];
    await tf.setBackend("native");
    const y = run(KVAttention, { q: t([B, H, Lq, c], 1), k: t([B, H, Lk, c], 2), v: t([B, H, Lk, c], 3) }, { scale: 0.7 });
    const native = (await y.data()) as Float32Array;
    const cpu = (await both(() => tf.matMul(tf.softmax(tf.matMul(tf.mul(t([B, H, Lq, c], 1), 0.7), t([B, H, Lk, c], 2), false, true)), t([B, H, Lk, c], 3)))).cpu;
    check("KVAttention", { native, cpu }, kvAttentionRef(rand(B * H * Lq * c, 1), rand(B * H * Lk * c, 2), rand(B * H * Lk * c, 3), B * H, Lq, Lk, c, 0.7));
  });

  it.each([true, false])("GroupNormActGrad (silu %s) against float64 central differences", async (silu) => {
    const [B, Hh, W, C, G] = [2, 3, 5, 8, 4];
    await tf.setBackend("native");
    const outs = tf.engine().runKernel(GroupNormActGrad, { x: tf.add(t([B, Hh, W, C], 1), 3), gamma: t([C], 2), beta: t([C], 3), dy: t([B, Hh, W, C], 4) }, { groups: G, eps: 1e-6, silu }) as tf.Tensor[];
    const got = await Promise.all(outs.map((o) => o.data()));
    const x = rand(B * Hh * W * C, 1).map((v) => Math.fround(v + 3));
    const ref = groupNormActGradRef(x, rand(C, 2), rand(C, 3), rand(B * Hh * W * C, 4), B, Hh * W, C, G, 1e-6, silu);
    ["dx", "dgamma", "dbeta"].forEach((name, i) => {
      const e = err(got[i] as Float32Array, ref[i]);
      console.log(`native GroupNormActGrad silu=${silu} ${name}: vs reference ${e.toExponential(2)}`);
      expect(e).toBeLessThan(1e-5);
    });
    tf.dispose(outs);
  });

  it("GeluTanh and GeluTanhGrad against float64 (the formula, and central differences for the gradient) and core's plain ops on cpu", async () => {
    // inputs over [-8, 8): both tails of the sigmoid, with more than one thread's block (1 << 14)
    const n = 40_000;
    const xs = rand(n, 11).map((v) => Math.fround(v * 8));
    const dys = rand(n, 12);
    const c2 = 2 * Math.sqrt(2 / Math.PI);
    const plain = await both(() => {
      const x = tf.tensor(xs);
      return tf.mul(x, tf.sigmoid(tf.mul(c2, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))))));
    });
    await tf.setBackend("native");
    const y = run(GeluTanh, { x: tf.tensor(xs) }, {});
    const dx = run(GeluTanhGrad, { x: tf.tensor(xs), dy: tf.tensor(dys) }, {});
    const [gy, gdx] = [(await y.data()) as Float32Array, (await dx.data()) as Float32Array];
    tf.dispose([y, dx]);
    const eRef = err(gy, geluTanhRef(xs));
    const eCpu = err(gy, plain.cpu);
    const eGrad = err(gdx, geluTanhGradRef(xs, dys));
    console.log(`native GeluTanh: vs float64 ${eRef.toExponential(2)}, vs core's plain ops on cpu ${eCpu.toExponential(2)}; GeluTanhGrad vs float64 central differences ${eGrad.toExponential(2)}`);
    expect(eRef).toBeLessThan(1e-6);
    expect(eCpu).toBeLessThan(1e-6);
    expect(eGrad).toBeLessThan(1e-5);
    const odd = run(GeluTanh, { x: tf.tensor([Number.NaN, -100, 100, 0]) }, {});
    const v = Array.from(await odd.data());
    odd.dispose();
    expect(Number.isNaN(v[0])).toBe(true);
    expect(v.slice(1)).toEqual([-0, 100, 0]);
  });

  it("AdamWUpdate rounds as the plain ops on cpu do (bit for bit), with and without a gradient scale", async () => {
    const k = { decay: 1 - 1e-3 * 0.05, beta1: 0.9, oneMinusBeta1: 1 - 0.9, beta2: 0.95, oneMinusBeta2: 1 - 0.95, bc2Sqrt: Math.sqrt(1 - 0.95 ** 3), eps: 1e-8, negStepSize: -1e-3 / (1 - 0.9 ** 3) };
    const f = (x: number) => tf.scalar(Math.fround(x));
    for (const scale of [undefined, 0.37]) {
      const plain = await both(() => {
        const [p, g0, m, v] = [t([7, 33], 1), t([7, 33], 2), tf.mul(t([7, 33], 3), 0.1), tf.abs(tf.mul(t([7, 33], 4), 0.01))];
        const g = scale === undefined ? g0 : tf.mul(g0, tf.scalar(scale));
        const mi = tf.add(tf.mul(m, f(k.beta1)), tf.mul(g, f(k.oneMinusBeta1)));
        const vi = tf.add(tf.mul(v, f(k.beta2)), tf.mul(tf.mul(g, g), f(k.oneMinusBeta2)));
        const denom = tf.add(tf.div(tf.sqrt(vi), f(k.bc2Sqrt)), f(k.eps));
        return tf.concat([tf.add(tf.mul(p, f(k.decay)), tf.mul(f(k.negStepSize), tf.div(mi, denom))), mi, vi]);
      });
      await tf.setBackend("native");
      const fused = tf.tidy(() => {
        const inputs: tf.NamedTensorMap = { param: t([7, 33], 1), grad: t([7, 33], 2), m: tf.mul(t([7, 33], 3), 0.1), v: tf.abs(tf.mul(t([7, 33], 4), 0.01)) };
        if (scale !== undefined) inputs.gradScale = tf.scalar(scale);
        return tf.concat(tf.engine().runKernel(AdamWUpdate, inputs, k as unknown as tf.NamedAttrMap) as tf.Tensor[]);
      });
      const got = await fused.data();
      fused.dispose();
      console.log(`native AdamWUpdate (scale ${scale}): vs the plain ops on cpu ${err(got, plain.cpu).toExponential(2)}`);
      expect(Array.from(got)).toEqual(Array.from(plain.cpu));
      expect(Array.from(got)).toEqual(Array.from(plain.native));
    }
  });

  it.each([true, false])("GroupNormAct (silu %s) against its reference", async (silu) => {
    const [B, Hh, W, C, G] = [2, 6, 5, 32, 8];
    await tf.setBackend("native");
    // an offset mean (|μ| ≫ σ) as the VQ-VAE's activations can have
    const y = run(GroupNormAct, { x: tf.add(t([B, Hh, W, C], 1), 5), gamma: t([C], 2), beta: t([C], 3) }, { groups: G, eps: 1e-6, silu });
    const native = (await y.data()) as Float32Array;
    const x = rand(B * Hh * W * C, 1).map((v) => Math.fround(v + 5));
    const ref = groupNormActRef(x, rand(C, 2), rand(C, 3), B, Hh * W, C, G, 1e-6, silu);
    const e = err(native, ref);
    console.log(`native GroupNormAct silu=${silu}: vs reference ${e.toExponential(2)}`);
    expect(e).toBeLessThan(1e-5);
  });

  it("Resample2d against its reference", async () => {
    const [B, Hh, W, C, h, w] = [2, 6, 9, 5, 12, 4];
    // banded matrices with zeros, as bicubic/area resampling matrices are
    const band = (rows: number, cols: number, seed: number) => rand(rows * cols, seed).map((v, i) => (Math.abs(Math.floor(i / cols) * (cols / rows) - (i % cols)) < 2 ? v : 0));
    await tf.setBackend("native");
    const y = run(Resample2d, { x: t([B, Hh, W, C], 1), mh: tf.tensor(band(h, Hh, 2), [h, Hh]), mw: tf.tensor(band(w, W, 3), [w, W]) }, {});
    const native = (await y.data()) as Float32Array;
    const e = err(native, resample2dRef(rand(B * Hh * W * C, 1), band(h, Hh, 2), band(w, W, 3), B, Hh, W, C, h, w));
    console.log(`native Resample2d: vs reference ${e.toExponential(2)}`);
    expect(e).toBeLessThan(1e-5);
  });

  it("keeps tfjs's memory accounting: no tensor or data id leaks", async () => {
    await tf.setBackend("native");
    const before = tf.memory().numTensors;
    const ids = tf.engine().backend.numDataIds();
    tf.dispose(tf.tidy(() => tf.sum(tf.softmax(tf.conv2d(t([1, 8, 8, 4], 1) as tf.Tensor4D, t([3, 3, 4, 4], 2) as tf.Tensor4D, 1, "same")))));
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(ids);
  });
});

describe("status", () => {
  it("names both devices with built, available and a reason", () => {
    const s = status();
    console.log(`native status: ${JSON.stringify(s)}`);
    for (const d of [s.cpu, s.cuda]) expect(typeof d.reason).toBe("string");
    if (!s.cuda.available) expect(s.cuda.reason).not.toBe("");
  });
});
