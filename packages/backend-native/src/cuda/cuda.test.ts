/**
 * The cuda backend on the CUDA device's host emulation (NEXTSCALE_CUDA_EMULATE:
 * the kernel bodies of native/cuda/kernels.cuh run as loops on the CPU, so
 * this runs without a GPU): each device kernel against tfjs-backend-cpu on
 * the same inputs (and the float64 references of ../reference.ts where there
 * is one), prints the largest difference; the caching allocator; the host
 * fallback; tfjs's memory accounting. None of this has run on a GPU.
 */
import { AdaLNModulate, GroupNormAct, KVAttention, Resample2d } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { adaLNModulateRef, conv2dRef, groupNormActRef, kvAttentionRef, matmulRef, resample2dRef } from "../reference.js";
import { CudaBackend, bucketOf, CachingAllocator, cudaDeviceStatus, cudaFallbackKernels, cudaInfo, registerCuda } from "./index.js";

const emu = cudaDeviceStatus({ emulate: true });

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
    if (Number.isNaN(want[i]) !== Number.isNaN(got[i])) return Infinity;
    if (Number.isNaN(want[i])) continue;
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return Number.isNaN(d) ? Infinity : d / m;
}

/** f's result on cuda (emulated) and on cpu, with the shapes. */
async function both(f: () => tf.Tensor): Promise<{ cuda: Float32Array; cpu: Float32Array }> {
  const run = async (b: string) => {
    await tf.setBackend(b);
    const y = tf.tidy(f);
    expect(y.dtype).toBe("float32");
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return { v, shape: y.shape };
  };
  const cpu = await run("cpu");
  const cuda = await run("cuda");
  expect(cuda.shape).toEqual(cpu.shape);
  return { cuda: cuda.v, cpu: cpu.v };
}

function check(label: string, r: { cuda: Float32Array; cpu: Float32Array }, ref?: ArrayLike<number>, tol = 1e-5): void {
  const vsCpu = err(r.cuda, r.cpu);
  const vsRef = ref ? err(r.cuda, ref) : undefined;
  console.log(`cuda (emulated) ${label}: vs cpu ${vsCpu.toExponential(2)}${vsRef === undefined ? "" : `, vs reference ${vsRef.toExponential(2)}`}`);
  expect(vsCpu).toBeLessThan(tol);
  if (vsRef !== undefined) expect(vsRef).toBeLessThan(tol);
}

/** Run f on cuda and say which kernels fell back to the host during it. */
async function fellBack(f: () => tf.Tensor): Promise<string[]> {
  await tf.setBackend("cuda");
  const before = cudaFallbackKernels();
  tf.tidy(f).dispose();
  const after = cudaFallbackKernels();
  return Object.keys(after).filter((k) => after[k] !== before[k]);
}

describe("caching allocator (on a counting fake device)", () => {
  it("rounds sizes up to buckets", () => {
    expect([1, 256, 257, 4000, 2 ** 21, 2 ** 21 + 1].map(bucketOf)).toEqual([256, 256, 512, 4096, 2 ** 21, 2 ** 22]);
  });
  it("reuses a freed buffer of the same bucket, accounts bytes in use and cached, empties its cache", () => {
    let next = 4096;
    const freed: number[] = [];
    const alloc = (n: number) => {
      next += n;
      return next;
    };
    const a = new CachingAllocator({ alloc, free: (p) => freed.push(p) });
    const p = a.alloc(1000);
    const q = a.alloc(3000);
    expect(a.bytesInUse).toBe(1024 + 4096);
    a.release(p);
    expect([a.bytesInUse, a.bytesCached]).toEqual([4096, 1024]);
    expect(a.alloc(600)).toBe(p); // same bucket (1024): reused
    expect(a.alloc(600)).not.toBe(p);
    expect([a.deviceAllocs, a.reused]).toEqual([3, 1]);
    a.release(q);
    a.emptyCache();
    expect(freed).toEqual([q]);
    expect(a.bytesCached).toBe(0);
    expect(() => a.release(q)).toThrow(/did not hand out/);
  });
  it("empties its cache and retries when the device is out of memory", () => {
    let live = 0;
    const alloc = (n: number) => {
      if (live + n > 2048) return 0;
      live += n;
      return 8192 + live;
    };
    const free = () => {
      live -= 1024;
    };
    const a = new CachingAllocator({ alloc, free });
    a.release(a.alloc(1024));
    expect(a.alloc(2000)).toBeGreaterThan(0); // needs the cached 1024 back first
    expect(() => a.alloc(4096)).toThrow(/out of device memory/);
  });
});

describe("cuda without a GPU", () => {
  it("says why the GPU device is unavailable, without crashing", () => {
    const s = cudaDeviceStatus({ emulate: false });
    console.log(`cuda (GPU): ${JSON.stringify(s)}`);
    expect(s.available ? s.reason : s.reason.length).toBeTruthy();
    if (!s.available) expect(s.reason).toMatch(/no CUDA device|not built|cannot be loaded/);
  });
});

describe.skipIf(!emu.available)(`cuda backend on the host emulation (${emu.reason})`, () => {
  beforeAll(async () => {
    registerCuda({ emulate: true });
    await tf.setBackend("cpu");
    (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
    console.log(`cuda device: ${cudaInfo({ emulate: true }).device}`);
  });

  it("says plainly that it is an emulation", async () => {
    await tf.setBackend("cuda");
    expect(tf.backend()).toBeInstanceOf(CudaBackend);
    expect(cudaInfo({ emulate: true }).device).toMatch(/host emulation, not a GPU/);
  });

  const binaries = [
    ["add", tf.add],
    ["sub", tf.sub],
    ["mul", tf.mul],
    ["div", tf.div],
    ["maximum", tf.maximum],
    ["minimum", tf.minimum],
    ["squaredDifference", tf.squaredDifference],
  ] as const;
  const shapes: [number[], number[]][] = [
    [[4, 5, 6], [4, 5, 6]],
    [[4, 5, 6], [6]],
    [[4, 1, 6], [1, 5, 1]],
    [[3, 1], []],
    [[2, 3, 1, 4, 1], [3, 5, 1, 2]],
  ];
  it.each(binaries)("%s with broadcasting", async (name, op) => {
    for (const [sa, sb] of shapes) {
      const r = await both(() => op(t(sa, 1), name === "div" ? tf.add(t(sb, 2), 3) : t(sb, 2)));
      check(`${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, r);
    }
    expect(await fellBack(() => op(t([4, 1, 6], 1), t([5, 1], 2)))).toEqual([]);
  });

  const unaries = [
    ["exp", tf.exp],
    ["log", (x: tf.Tensor) => tf.log(tf.add(tf.abs(x), 0.1))],
    ["neg", tf.neg],
    ["sqrt", (x: tf.Tensor) => tf.sqrt(tf.abs(x))],
    ["rsqrt", (x: tf.Tensor) => tf.rsqrt(tf.add(tf.abs(x), 0.1))],
    ["square", tf.square],
    ["relu", tf.relu],
    ["sigmoid", tf.sigmoid],
    ["tanh", tf.tanh],
    ["abs", tf.abs],
  ] as const;
  it.each(unaries)("%s", async (name, op) => {
    check(name, await both(() => op(t([7, 33], 3))), undefined, 2e-6);
  });

  it("Transpose, Slice, Reshape as device copies and shared data", async () => {
    check("transpose [2,3,4,5] perm 2,0,3,1", await both(() => tf.transpose(t([2, 3, 4, 5], 1), [2, 0, 3, 1])), undefined, 1e-30); // exact
    check("slice [6,7,8] from [1,2,3] size [4,-1,2]", await both(() => tf.slice(t([6, 7, 8], 1), [1, 2, 3], [4, -1, 2])), undefined, 1e-30); // exact
    check("reshape then transpose", await both(() => tf.transpose(tf.reshape(t([6, 8], 1), [2, 3, 8]))), undefined, 1e-30); // exact
    expect(await fellBack(() => tf.slice(tf.transpose(tf.reshape(t([6, 8], 1), [2, 3, 8])), [1, 0, 0], [3, 2, 1]))).toEqual([]);
  });

  const reductions = [["sum", tf.sum], ["mean", tf.mean], ["max", tf.max], ["min", tf.min]] as const;
  it.each(reductions)("%s over any axes", async (name, op) => {
    for (const [axes, keep] of [[-1, false], [0, false], [[0, 2], true], [[1], true], [undefined, false]] as const) {
      const r = await both(() => op(t([5, 6, 7], 4), axes as number[] | undefined, keep));
      check(`${name} axes ${JSON.stringify(axes)} keepDims ${keep}`, r, undefined, 1e-6);
    }
  });

  it("Softmax over the last axis", async () => {
    check("softmax [6, 50]", await both(() => tf.softmax(tf.mul(t([6, 50], 5), 8))), undefined, 1e-6);
    check("softmax [2, 3, 17]", await both(() => tf.softmax(t([2, 3, 17], 6))), undefined, 1e-6);
  });

  const products: [number[], number[], boolean, boolean][] = [
    [[17, 33], [33, 9], false, false],
    [[33, 17], [33, 9], true, false],
    [[17, 33], [9, 33], false, true],
    [[33, 17], [9, 33], true, true],
    [[3, 17, 33], [3, 33, 9], false, false],
    [[2, 3, 17, 33], [33, 9], false, false],
    [[17, 33], [4, 33, 9], false, false],
  ];
  it.each(products)("BatchMatMul %j · %j (transposeA %s, transposeB %s), against the float64 reference", async (sa, sb, tA, tB) => {
    const r = await both(() => tf.matMul(t(sa, 1), t(sb, 2), tA, tB));
    const M = tA ? sa.at(-1)! : sa.at(-2)!;
    const K = tA ? sa.at(-2)! : sa.at(-1)!;
    const N = tB ? sb.at(-2)! : sb.at(-1)!;
    const ref = matmulRef(rand(size(sa), 1), rand(size(sb), 2), size(sa.slice(0, -2)), size(sb.slice(0, -2)), M, N, K, tA, tB);
    check(`matMul ${JSON.stringify(sa)}·${JSON.stringify(sb)} ${tA}/${tB}`, r, ref);
  });

  const convs: [string, number[], number[], number, number, "same" | "valid" | tf.backend_util.ExplicitPadding][] = [
    ["3×3 same", [2, 7, 6, 5], [3, 3, 5, 4], 1, 1, "same"],
    ["1×1", [2, 4, 4, 8], [1, 1, 8, 6], 1, 1, "valid"],
    ["3×3 stride 2, pad (0, 1)", [1, 9, 8, 3], [3, 3, 3, 4], 2, 1, [[0, 0], [0, 1], [0, 1], [0, 0]]],
    ["3×3 dilation 2", [1, 8, 8, 2], [3, 3, 2, 3], 1, 2, "same"],
  ];
  it.each(convs)("Conv2D %s (im2col + GEMM) against the float64 reference, and its two gradients", async (_label, xs, ws, stride, dil, pad) => {
    const conv = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad as "same", "NHWC", dil);
    const r = await both(() => conv(t(xs, 1), t(ws, 2)));
    const info = tf.backend_util.computeConv2DInfo(xs as [number, number, number, number], ws as [number, number, number, number], stride, dil, pad, undefined, false, "channelsLast");
    const i = info;
    const geom = Int32Array.from([i.batchSize, i.inHeight, i.inWidth, i.inChannels, i.outHeight, i.outWidth, i.outChannels, i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth, i.dilationHeight, i.dilationWidth, i.padInfo.top, i.padInfo.left]);
    check(`conv2d ${_label}`, r, conv2dRef(geom, rand(size(xs), 1), rand(size(ws), 2)));
    if (dil !== 1) return; // tfjs computes no gradient of a dilated, strided convolution this way
    const attrs = { strides: stride, pad, dataFormat: "NHWC" } as unknown as tf.NamedAttrMap;
    const dw = () => tf.engine().runKernel("Conv2DBackpropFilter", { x: t(xs, 1), dy: t(i.outShape, 3) }, { ...attrs, filterShape: ws }) as tf.Tensor;
    const dx = () => tf.engine().runKernel("Conv2DBackpropInput", { dy: t(i.outShape, 3), filter: t(ws, 2) }, { ...attrs, inputShape: xs }) as tf.Tensor;
    check(`conv2d filter gradient ${_label}`, await both(dw));
    check(`conv2d input gradient ${_label}`, await both(dx));
    expect(await fellBack(() => tf.add(dw(), 0))).toEqual([]);
    expect(await fellBack(() => tf.add(dx(), 0))).toEqual([]);
  });

  it("AdaLNModulate against the float64 reference", async () => {
    const [B, L, C] = [2, 5, 24];
    await tf.setBackend("cuda");
    const y = tf.tidy(() => tf.engine().runKernel(AdaLNModulate, { x: t([B, L, C], 1), scale: t([B, 1, C], 2), shift: t([B, 1, C], 3) }, { eps: 1e-6 }) as tf.Tensor);
    const got = (await y.data()) as Float32Array;
    y.dispose();
    const e = err(got, adaLNModulateRef(rand(B * L * C, 1), rand(B * C, 2), rand(B * C, 3), B, L, C, 1e-6));
    console.log(`cuda (emulated) AdaLNModulate [2, 5, 24]: vs reference ${e.toExponential(2)}`);
    expect(e).toBeLessThan(1e-5);
  });

  it("Concat along any axis as strided copies into the output", async () => {
    for (const axis of [0, 1, 2]) {
      const r = await both(() => tf.concat([t([2, 3, 4], 1), t([2, 3, 4].map((n, d) => (d === axis ? 5 : n)), 2), t([2, 3, 4].map((n, d) => (d === axis ? 0 : n)), 3)], axis));
      check(`concat axis ${axis}`, r, undefined, 1e-30); // exact
    }
    expect(await fellBack(() => tf.concat([t([2, 3], 1), t([2, 5], 2)], 1))).toEqual([]);
  });

  /** A kernel of @nextscale/contract (no tfjs-backend-cpu kernel) on cuda against its float64 reference. */
  async function fused(label: string, f: () => tf.Tensor, ref: Float64Array): Promise<void> {
    await tf.setBackend("cuda");
    const y = tf.tidy(f);
    const got = (await y.data()) as Float32Array;
    y.dispose();
    const e = err(got, ref);
    console.log(`cuda (emulated) ${label}: vs reference ${e.toExponential(2)}`);
    expect(e).toBeLessThan(1e-5);
  }

  it("KVAttention, GroupNormAct, Resample2d against their float64 references", async () => {
    const [B, H, Lq, Lk, c] = [2, 3, 5, 11, 8];
    await fused("KVAttention", () => tf.engine().runKernel(KVAttention, { q: t([B, H, Lq, c], 1), k: t([B, H, Lk, c], 2), v: t([B, H, Lk, c], 3) }, { scale: 0.35 }) as tf.Tensor,
      kvAttentionRef(rand(B * H * Lq * c, 1), rand(B * H * Lk * c, 2), rand(B * H * Lk * c, 3), B * H, Lq, Lk, c, 0.35));
    for (const silu of [false, true]) {
      await fused(`GroupNormAct silu ${silu}`, () => tf.engine().runKernel(GroupNormAct, { x: t([2, 4, 3, 12], 4), gamma: t([12], 5), beta: t([12], 6) }, { groups: 3, eps: 1e-5, silu }) as tf.Tensor,
        groupNormActRef(rand(2 * 12 * 12, 4), rand(12, 5), rand(12, 6), 2, 12, 12, 3, 1e-5, silu));
    }
    const mh = new Float32Array([1, 0, 0, 0.25, 0.75, 0, 0, 0.5, 0.5, 0, 0, 1]); // (4, 3) with zero taps
    await fused("Resample2d", () => tf.engine().runKernel(Resample2d, { x: t([2, 3, 5, 4], 7), mh: tf.tensor(mh, [4, 3]), mw: t([6, 5], 8) }, {}) as tf.Tensor,
      resample2dRef(rand(2 * 3 * 5 * 4, 7), mh, rand(30, 8), 2, 3, 5, 4, 4, 6));
  });

  it("runs kernels it lacks on tfjs-backend-cpu through host copies, and records them", async () => {
    check("cumsum (host fallback)", await both(() => tf.cumsum(t([4, 9], 1), 1)));
    expect(await fellBack(() => tf.cumsum(t([4, 9], 1), 1))).toContain("Cumsum");
    check("addN (host fallback, an array of inputs)", await both(() => tf.addN([t([3, 4], 1), t([3, 4], 2), t([3, 4], 3)])));
    // int32 and bool tensors stay on the host: their kernels fall back
    await tf.setBackend("cuda");
    const i = tf.tensor([3, 1, 2], [3], "int32");
    const arg = tf.argMax(tf.tensor([[1, 5, 2], [7, 0, 1]]), 1);
    expect(Array.from(await tf.add(i, 1).data())).toEqual([4, 2, 3]);
    expect(Array.from(await arg.data())).toEqual([1, 0]);
    tf.dispose([i, arg]);
  });

  it("balances tfjs's tensor and data-id counts, and reuses freed device buffers", async () => {
    await tf.setBackend("cuda");
    const be = tf.backend() as CudaBackend;
    const x = t([64, 64], 1);
    const m0 = tf.memory();
    const ids0 = be.numDataIds();
    const inUse0 = be.memory().bytesInUse;
    for (let i = 0; i < 3; i++) {
      const y = tf.tidy(() => tf.add(tf.sum(tf.softmax(tf.matMul(tf.reshape(x, [64, 64]), x)), 0), tf.slice(tf.cumsum(x, 0), [0, 0], [1, 64])));
      await y.data();
      y.dispose();
    }
    expect(tf.memory().numTensors).toBe(m0.numTensors);
    expect(tf.memory().numDataBuffers).toBe(m0.numDataBuffers);
    expect(be.numDataIds()).toBe(ids0);
    const mem = be.memory();
    expect(mem.bytesInUse).toBe(inUse0);
    expect(mem.bytesCached).toBeGreaterThan(0);
    expect(mem.reused).toBeGreaterThan(0);
    console.log(`cuda (emulated) memory after 3 rounds: ${JSON.stringify(mem)}`);
    x.dispose();
    expect(be.numDataIds()).toBe(ids0 - 1);
  });
});
