/**
 * The kernels of the cuda backend, by tfjs kernel name, on device buffers:
 * element-wise (broadcast by strides), Reshape/Identity (shared data, no
 * copy), Transpose/Slice (strided copies), Sum/Mean/Max/Min over any axes
 * (the reduced axes moved innermost by a strided copy), Softmax,
 * Concat (strided copies into the output), BatchMatMul (cuBLAS or the
 * device's own GEMM), Conv2D and its filter gradient (im2col + GEMM), its
 * input gradient (a gather per input element) and the four fused kernels
 * of @nextscale/contract. A kernel
 * returns null for a case it does not handle; that case, and every kernel
 * without an entry here, runs tfjs-backend-cpu's kernel on host copies
 * (index.ts). Their bodies are native/cuda/kernels.cuh.
 */
import { AdaLNModulate, type AdaLNModulateAttrs, GroupNormAct, type GroupNormActAttrs, KVAttention, type KVAttentionAttrs, Resample2d } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS } from "../device.js";
import type { CudaBackend } from "./backend.js";

export interface CudaArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: CudaBackend;
  attrs?: tf.NamedAttrMap;
}

export interface CudaKernel {
  kernelName: string;
  run(args: CudaArgs): tf.TensorInfo | null;
}

/** Device pointers of float32 inputs, or null when any is not float32 (or has more dims than the device's NS_MAX_RANK). */
function ptrs(be: CudaBackend, ...ts: tf.TensorInfo[]): number[] | null {
  if (ts.some((t) => t.dtype !== "float32" || t.shape.length > 8)) return null;
  return ts.map((t) => be.entry(t).ptr);
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, n = 1; d >= 0; n *= shape[d], d--) s[d] = n;
  return s;
}

/** Element strides of `shape` aligned right to `out` (0 where it is broadcast). */
function stridesIn(shape: readonly number[], out: readonly number[]): Int32Array {
  const s = new Int32Array(out.length);
  let stride = 1;
  for (let d = out.length - 1, e = shape.length - 1; d >= 0; d--, e--) {
    const n = e >= 0 ? shape[e] : 1;
    s[d] = n === 1 ? 0 : stride;
    stride *= n;
  }
  return s;
}

const binary = (name: keyof typeof BINARY_OPS): CudaKernel => ({
  kernelName: name,
  run({ inputs: { a, b }, backend }) {
    const p = ptrs(backend, a, b);
    if (!p) return null;
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = backend.makeOutput(shape);
    const n = tf.util.sizeFromShape(shape);
    const s = shape.length ? shape : [1];
    if (n) backend.device.binary(BINARY_OPS[name], p[0], p[1], out.ptr, n, Int32Array.from(s), stridesIn(a.shape, s), stridesIn(b.shape, s));
    return out;
  },
});

const unary = (name: keyof typeof UNARY_OPS): CudaKernel => ({
  kernelName: name,
  run({ inputs: { x }, backend }) {
    const p = ptrs(backend, x);
    if (!p) return null;
    const out = backend.makeOutput(x.shape);
    const n = tf.util.sizeFromShape(x.shape);
    if (n) backend.device.unary(UNARY_OPS[name], p[0], out.ptr, n);
    return out;
  },
});

/** The same data under another shape: a new reference, no copy (as tfjs-backend-cpu's Reshape). */
const share = (name: string, shapeOf: (args: CudaArgs) => number[]): CudaKernel => ({
  kernelName: name,
  run(args) {
    const { x } = args.inputs;
    if (x.dtype !== "float32") return null;
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: shapeOf(args), dtype: x.dtype };
  },
});

/** y (dims, contiguous) = x read from element `offset` with `strides`. */
function stridedCopy(be: CudaBackend, x: tf.TensorInfo, offset: number, dims: number[], strides: number[]): tf.TensorInfo {
  const out = be.makeOutput(dims);
  const n = tf.util.sizeFromShape(dims);
  const r = dims.length;
  if (n) be.device.stridedCopy(be.entry(x).ptr + offset * 4, out.ptr, n, Int32Array.from(r ? dims : [1]), Int32Array.from(r ? strides : [0]), Int32Array.from(r ? stridesOf(dims) : [0]));
  return out;
}

/** Concat: each input copied into its slab of the output (the output's strides, offset along the axis). */
const concat: CudaKernel = {
  kernelName: "Concat",
  run({ inputs, backend, attrs }) {
    const xs = (inputs as unknown as tf.TensorInfo[]).filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    if (!xs.length || !ptrs(backend, ...xs)) return null;
    const axis = tf.util.parseAxisParam((attrs as { axis: number }).axis, xs[0].shape)[0];
    const shape = tf.backend_util.computeOutShape(xs.map((t) => t.shape), axis);
    const out = backend.makeOutput(shape);
    const st = stridesOf(shape);
    let at = 0;
    for (const x of xs) {
      const n = tf.util.sizeFromShape(x.shape);
      backend.device.stridedCopy(backend.entry(x).ptr, out.ptr + at * st[axis] * 4, n, Int32Array.from(x.shape), Int32Array.from(stridesOf(x.shape)), Int32Array.from(st));
      at += x.shape[axis];
    }
    return out;
  },
};

const kvAttention: CudaKernel = {
  kernelName: KVAttention,
  run({ inputs: { q, k, v }, backend, attrs }) {
    const p = ptrs(backend, q, k, v);
    if (!p || q.shape.length !== 4) return null;
    const [B, H, Lq, c] = q.shape;
    const Lk = k.shape[2];
    const out = backend.makeOutput(q.shape);
    if (B * H * Lq * c) backend.device.kvAttention(p[0], p[1], p[2], out.ptr, B * H, Lq, Lk, c, (attrs as unknown as KVAttentionAttrs).scale);
    return out;
  },
};

const groupNormAct: CudaKernel = {
  kernelName: GroupNormAct,
  run({ inputs: { x, gamma, beta }, backend, attrs }) {
    const p = ptrs(backend, x, gamma, beta);
    if (!p || x.shape.length !== 4) return null;
    const [B, H, W, C] = x.shape;
    const { groups, eps, silu } = attrs as unknown as GroupNormActAttrs;
    if (C % groups) return null;
    const out = backend.makeOutput(x.shape);
    if (B * H * W * C) backend.device.groupNormAct(p[0], p[1], p[2], out.ptr, B, H * W, C, groups, eps, !!silu);
    return out;
  },
};

const resample2d: CudaKernel = {
  kernelName: Resample2d,
  run({ inputs: { x, mh, mw }, backend }) {
    const p = ptrs(backend, x, mh, mw);
    if (!p || x.shape.length !== 4) return null;
    const [B, H, W, C] = x.shape;
    const [h, w] = [mh.shape[0], mw.shape[0]];
    const out = backend.makeOutput([B, h, w, C]);
    if (B * h * w * C) backend.device.resample2d(p[0], p[1], p[2], out.ptr, B, H, W, C, h, w);
    return out;
  },
};

const transpose: CudaKernel = {
  kernelName: "Transpose",
  run({ inputs: { x }, backend, attrs }) {
    if (!ptrs(backend, x)) return null;
    const perm = (attrs as { perm: number[] }).perm;
    const st = stridesOf(x.shape);
    return stridedCopy(backend, x, 0, perm.map((p) => x.shape[p]), perm.map((p) => st[p]));
  },
};

const slice: CudaKernel = {
  kernelName: "Slice",
  run({ inputs: { x }, backend, attrs }) {
    if (!ptrs(backend, x)) return null;
    const { begin, size } = attrs as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    const st = stridesOf(x.shape);
    return stridedCopy(backend, x, b.reduce((o, v, d) => o + v * st[d], 0), s, st);
  },
};

const reduce = (name: keyof typeof REDUCE_OPS): CudaKernel => ({
  kernelName: name,
  run({ inputs: { x }, backend, attrs }) {
    if (!ptrs(backend, x)) return null;
    // Max names its axes reductionIndices
    const { axis, reductionIndices, keepDims } = attrs as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(name === "Max" ? reductionIndices! : axis!, x.shape);
    const perm = tf.backend_util.getAxesPermutation(axes, x.shape.length);
    // the reduced axes innermost: a transposed copy unless they already are
    const inner = axes.reduce((n, a) => n * x.shape[a], 1);
    const outShape = x.shape.filter((_, d) => !axes.includes(d));
    const outer = tf.util.sizeFromShape(outShape);
    if (outer && !inner) return null; // a reduction over an empty axis: tfjs-backend-cpu's identities
    let src = x;
    if (perm) {
      const st = stridesOf(x.shape);
      src = stridedCopy(backend, x, 0, perm.map((p) => x.shape[p]), perm.map((p) => st[p]));
    }
    const out = backend.makeOutput(keepDims ? x.shape.map((n, d) => (axes.includes(d) ? 1 : n)) : outShape);
    if (outer) backend.device.reduce(REDUCE_OPS[name], backend.entry(src).ptr, out.ptr, outer, inner);
    if (src !== x) backend.disposeData(src.dataId);
    return out;
  },
});

const softmax: CudaKernel = {
  kernelName: "Softmax",
  run({ inputs: { logits }, backend, attrs }) {
    const p = ptrs(backend, logits);
    const dim = (attrs as { dim: number }).dim;
    if (!p || (dim !== -1 && dim !== logits.shape.length - 1)) return null;
    const n = logits.shape[logits.shape.length - 1];
    const out = backend.makeOutput(logits.shape);
    const rows = tf.util.sizeFromShape(logits.shape) / n;
    if (rows && n) backend.device.softmax(p[0], out.ptr, rows, n);
    return out;
  },
};

const batchMatMul: CudaKernel = {
  kernelName: "BatchMatMul",
  run({ inputs: { a, b }, backend, attrs }) {
    const p = ptrs(backend, a, b);
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (!p || a.shape.length < 2 || b.shape.length < 2) return null;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    if (K !== (transposeB ? b.shape[rb - 1] : b.shape[rb - 2])) return null;
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const batchA = tf.util.sizeFromShape(outerA);
    const batchB = tf.util.sizeFromShape(outerB);
    let outer: number[];
    try {
      outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    } catch {
      return null;
    }
    const batch = tf.util.sizeFromShape(outer);
    if (!((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1))) return null;
    if (batchA === batch && batchB === batch && batch > 1 && outerA.join() !== outerB.join()) return null;
    if (!K) return null; // an empty inner dimension: zeros, from tfjs-backend-cpu
    const out = backend.makeOutput([...outer, M, N]);
    if (batch * M * N) backend.device.matmul(p[0], p[1], out.ptr, batchA, batchB, M, N, K, !!transposeA, !!transposeB);
    return out;
  },
};

const adaLNModulate: CudaKernel = {
  kernelName: AdaLNModulate,
  run({ inputs: { x, scale, shift }, backend, attrs }) {
    const p = ptrs(backend, x, scale, shift);
    if (!p || x.shape.length !== 3) return null;
    const [B, L, C] = x.shape;
    if (tf.util.sizeFromShape(scale.shape) !== B * C || tf.util.sizeFromShape(shift.shape) !== B * C) return null;
    const out = backend.makeOutput(x.shape);
    if (B * L * C) backend.device.adaLN(p[0], p[1], p[2], out.ptr, B, L, C, (attrs as unknown as AdaLNModulateAttrs).eps);
    return out;
  },
};

type ConvAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat?: "NHWC" | "NCHW";
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
};

/** The geometry (NHWC only) as the device's NsConv: [B, H, W, Ci, Ho, Wo, Co, KH, KW, sH, sW, dH, dW, padTop, padLeft]. */
function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): { info: tf.backend_util.Conv2DInfo; geom: Int32Array } | null {
  if ((attrs.dataFormat ?? "NHWC") !== "NHWC") return null;
  const i = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const geom = Int32Array.from([
    i.batchSize, i.inHeight, i.inWidth, i.inChannels, i.outHeight, i.outWidth, i.outChannels,
    i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth, i.dilationHeight, i.dilationWidth,
    i.padInfo.top, i.padInfo.left,
  ]);
  return { info: i, geom };
}

/** im2col of x into a temporary buffer (the caller disposes it), or x itself for a 1×1 stride-1 unpadded convolution. */
function columns(be: CudaBackend, x: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, geom: Int32Array): tf.TensorInfo {
  const i = info;
  const direct = i.filterHeight === 1 && i.filterWidth === 1 && i.strideHeight === 1 && i.strideWidth === 1 && i.padInfo.top === 0 && i.padInfo.left === 0;
  if (direct) return x;
  const col = be.makeOutput([i.batchSize * i.outHeight * i.outWidth, i.filterHeight * i.filterWidth * i.inChannels]);
  if (tf.util.sizeFromShape(col.shape)) be.device.im2col(geom, be.entry(x).ptr, col.ptr);
  return col;
}

/** Conv2D: im2col, then one GEMM (B·Ho·Wo, KH·KW·Ci)·(KH·KW·Ci, Co). */
const conv2D: CudaKernel = {
  kernelName: "Conv2D",
  run({ inputs: { x, filter }, backend, attrs }) {
    if (!ptrs(backend, x, filter) || x.shape.length !== 4 || filter.shape.length !== 4) return null;
    const g = geometry(x.shape, filter.shape, attrs as unknown as ConvAttrs);
    if (!g) return null;
    const i = g.info;
    const out = backend.makeOutput(i.outShape);
    const M = i.batchSize * i.outHeight * i.outWidth;
    const K = i.filterHeight * i.filterWidth * i.inChannels;
    if (M * i.outChannels && K) {
      const col = columns(backend, x, i, g.geom);
      backend.device.matmul(backend.entry(col).ptr, backend.entry(filter).ptr, out.ptr, 1, 1, M, i.outChannels, K, false, false);
      if (col !== x) backend.disposeData(col.dataId);
    }
    return out;
  },
};

/** dW (KH·KW·Ci, Co) = colᵀ · dy. */
const conv2DBackpropFilter: CudaKernel = {
  kernelName: "Conv2DBackpropFilter",
  run({ inputs: { x, dy }, backend, attrs }) {
    const a = attrs as unknown as ConvAttrs & { filterShape: number[] };
    if (!ptrs(backend, x, dy) || x.shape.length !== 4) return null;
    const g = geometry(x.shape, a.filterShape, { ...a, dilations: 1 });
    if (!g) return null;
    const i = g.info;
    const M = i.batchSize * i.outHeight * i.outWidth;
    const K = i.filterHeight * i.filterWidth * i.inChannels;
    if (!M || !K) return null; // empty: zeros from tfjs-backend-cpu
    const out = backend.makeOutput(a.filterShape);
    const col = columns(backend, x, i, g.geom);
    backend.device.matmul(backend.entry(col).ptr, backend.entry(dy).ptr, out.ptr, 1, 1, K, i.outChannels, M, true, false);
    if (col !== x) backend.disposeData(col.dataId);
    return out;
  },
};

const conv2DBackpropInput: CudaKernel = {
  kernelName: "Conv2DBackpropInput",
  run({ inputs: { dy, filter }, backend, attrs }) {
    const a = attrs as unknown as ConvAttrs & { inputShape: number[] };
    const p = ptrs(backend, dy, filter);
    if (!p) return null;
    const g = geometry(a.inputShape, filter.shape, { ...a, dilations: 1 });
    if (!g) return null;
    const out = backend.makeOutput(a.inputShape);
    if (tf.util.sizeFromShape(a.inputShape)) backend.device.conv2dBackpropInput(g.geom, p[0], p[1], out.ptr);
    return out;
  },
};

export const CUDA_KERNELS: readonly CudaKernel[] = [
  ...(Object.keys(BINARY_OPS) as (keyof typeof BINARY_OPS)[]).map(binary),
  ...(Object.keys(UNARY_OPS) as (keyof typeof UNARY_OPS)[]).map(unary),
  share("Reshape", ({ inputs: { x }, attrs }) => tf.util.inferFromImplicitShape((attrs as { shape: number[] }).shape, tf.util.sizeFromShape(x.shape))),
  share("Identity", ({ inputs: { x } }) => x.shape),
  transpose,
  slice,
  concat,
  ...(Object.keys(REDUCE_OPS) as (keyof typeof REDUCE_OPS)[]).map(reduce),
  softmax,
  batchMatMul,
  conv2D,
  conv2DBackpropFilter,
  conv2DBackpropInput,
  adaLNModulate,
  kvAttention,
  groupNormAct,
  resample2d,
];
