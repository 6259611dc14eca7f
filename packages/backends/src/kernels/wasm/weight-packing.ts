/**
 * Weight packing on wasm: free a weight's unpacked values once XNNPACK
 * holds its packed copy (the contract is `packing.ts` in @nextscale/core).
 *
 * tfjs-wasm creates one XNNPACK operator per weight tensor on the first
 * matMul (`xnn_create_fully_connected_nc_f32`) or conv2d
 * (`xnn_create_convolution2d_nhwc_f32`) that uses it; creating the operator
 * packs the weight into memory the operator owns, and the operator is
 * cached under the tensor's id (and the product's configuration) until the
 * tensor is disposed. Later products with the same tensor and configuration
 * read only the packed copy, so the tensor's own heap memory can be freed:
 * `release` frees it and sets the tensor's heap offset to 0, so disposing
 * the tensor later frees nothing twice (`_free(0)` is a no-op) while tfjs
 * still deletes the cached operator.
 *
 * This relies on tfjs-wasm's operator cache, which is not public API, so
 * `selfTest` checks it on the running build before packing is offered: it
 * packs a small matMul weight and two small convolution weights (one for
 * `conv2d` below, one for tf.conv2d), overwrites their unpacked values with
 * NaN, frees them, and runs the products again. Only if all give the same
 * finite results is packing registered.
 */
import * as tf from "@tensorflow/tfjs-core";

interface WasmModule {
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  HEAPF32: Float32Array;
}
interface WasmBackendInternals {
  wasm: WasmModule;
  dataIdMap: { get(dataId: object): { memoryOffset: number | null } | undefined };
  makeOutput(shape: number[], dtype: "float32", memoryOffset?: number): tf.TensorInfo;
}

/** What `registerWeightPacking` in @nextscale/core expects. */
type PackedConv2d = (x: tf.Tensor4D, w: tf.Tensor4D, stride: number, pad: [[number, number], [number, number]]) => tf.Tensor4D;
export interface WeightPacking {
  release(w: tf.Tensor): boolean;
  stage(shape: number[], fill: (dst: Float32Array) => void): tf.Tensor;
  flush(): void;
  conv2dFor(filterShape: readonly number[]): PackedConv2d | null;
}

/**
 * Filters up to this size keep tf.conv2d (XNNPACK's convolution, about 20%
 * faster than im2col + matMul at 256×256): its second packed copy costs
 * little there, while im2col would copy the largest activations. In the
 * VQ-VAE decoder these are the 160- and 320-channel convolutions at 64×64
 * to 256×256 (under 50 MB of second copies in all); the 640-channel ones
 * (15 MB each) at 16×16 and 32×32 go through im2col.
 */
export const CONV2D_KEEP_MAX_BYTES = 4 << 20;

const packedConv2d: PackedConv2d = (x, w, s, p) => conv2d(x, w, s, p);

function conv2dFor(filterShape: readonly number[]): PackedConv2d | null {
  return 4 * tf.util.sizeFromShape([...filterShape]) <= CONV2D_KEEP_MAX_BYTES ? null : packedConv2d;
}

/** Floats of im2col patches built at a time (a band of output rows): 32 MB. */
const IM2COL_CHUNK = 8 << 20;

/**
 * Convolution as matMul: the patches of a band of output rows, (rows·Wo,
 * kh·kw·C) in (ky, kx, c) order, times the HWIO weight seen as a
 * (kh·kw·C, O) matrix. tfjs-wasm sends that product to XNNPACK's fully
 * connected operator, which packs the weight once (its convolution operator
 * keeps two packed copies; measured) and sums in the same order, so the
 * results equal tf.conv2d's (also measured, in the tests). Costs about 20%
 * more time than tf.conv2d at 256×256 (copying the patches).
 */
export function conv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  pad: [[number, number], [number, number]],
  chunkFloats = IM2COL_CHUNK,
): tf.Tensor4D {
  const [kh, kw, C, O] = w.shape;
  const [B, H, W] = x.shape;
  const Ho = Math.floor((H + pad[0][0] + pad[0][1] - kh) / stride) + 1;
  const Wo = Math.floor((W + pad[1][0] + pad[1][1] - kw) / stride) + 1;
  const K = kh * kw * C;
  return tf.tidy(() => {
    const wm = tf.reshape(w, [K, O]);
    if (kh === 1 && kw === 1 && stride === 1 && pad.flat().every((p) => p === 0)) {
      return tf.reshape(tf.matMul(tf.reshape(x, [B * H * W, C]), wm), [B, H, W, O]);
    }
    const band = Math.max(1, Math.min(Ho, Math.floor(chunkFloats / (Wo * K))));
    const images: tf.Tensor[] = [];
    for (let b = 0; b < B; b++) {
      const bands: tf.Tensor[] = [];
      for (let r0 = 0; r0 < Ho; r0 += band) {
        const r1 = Math.min(Ho, r0 + band);
        const cols = im2col(x, b, r0, r1, Wo, kh, kw, stride, pad);
        bands.push(tf.matMul(cols, wm));
        cols.dispose();
      }
      images.push(bands.length === 1 ? bands[0] : tf.concat(bands, 0));
    }
    const y = images.length === 1 ? images[0] : tf.concat(images, 0);
    return tf.reshape(y, [B, Ho, Wo, O]);
  });
}

/** The patches of output rows [r0, r1) of image b: ((r1 − r0)·Wo, kh·kw·C), zero outside the image. */
function im2col(
  x: tf.Tensor4D,
  b: number,
  r0: number,
  r1: number,
  Wo: number,
  kh: number,
  kw: number,
  stride: number,
  pad: [[number, number], [number, number]],
): tf.Tensor {
  const be = internals()!;
  const [, H, W, C] = x.shape;
  const K = kh * kw * C;
  const info = be.makeOutput([(r1 - r0) * Wo, K], "float32");
  const heap = be.wasm.HEAPF32;
  const xi = be.dataIdMap.get(x.dataId)!.memoryOffset! / 4 + b * H * W * C;
  const o = be.dataIdMap.get(info.dataId)!.memoryOffset! / 4;
  for (let r = r0; r < r1; r++) {
    for (let ky = 0; ky < kh; ky++) {
      const iy = r * stride + ky - pad[0][0];
      const rowOut = o + (r - r0) * Wo * K + ky * kw * C;
      for (let c = 0; c < Wo; c++) {
        const dst = rowOut + c * K;
        if (iy < 0 || iy >= H) {
          heap.fill(0, dst, dst + kw * C);
          continue;
        }
        const ix0 = c * stride - pad[1][0];
        const a = Math.max(0, ix0);
        const e = Math.min(W, ix0 + kw);
        if (a > ix0) heap.fill(0, dst, dst + (a - ix0) * C);
        if (e > a) heap.copyWithin(dst + (a - ix0) * C, xi + (iy * W + a) * C, xi + (iy * W + e) * C);
        if (ix0 + kw > e) heap.fill(0, dst + (Math.max(e, a) - ix0) * C, dst + kw * C);
      }
    }
  }
  return tf.engine().makeTensorFromTensorInfo(info);
}

/**
 * Staging: a weight about to be packed is written into a heap block that
 * is kept when the weight is released and reused for the next one, so a
 * load allocates, besides this block, only the packed copies, back to
 * back. (Freeing each unpacked weight instead leaves holes between the
 * packed copies that the next, differently sized weights fit badly: 0.2 GB
 * of d16's 1.2 GB.) A staged tensor that is never released simply keeps
 * its block, which tfjs frees when the tensor is disposed.
 */
let spare: { offset: number; bytes: number } | null = null;
const staged = new WeakMap<object, { offset: number; bytes: number }>();
const STAGE_ROUND = 4 << 20;

function stage(shape: number[], fill: (dst: Float32Array) => void): tf.Tensor {
  const be = internals();
  if (!be) throw new Error("weight staging needs the wasm backend");
  const bytes = 4 * tf.util.sizeFromShape(shape);
  let block = spare;
  spare = null;
  if (block && block.bytes < bytes) {
    be.wasm._free(block.offset);
    block = null;
  }
  if (!block) {
    const size = Math.ceil(Math.max(bytes, 1) / STAGE_ROUND) * STAGE_ROUND;
    const offset = be.wasm._malloc(size) >>> 0;
    if (!offset) throw new Error(`out of WebAssembly memory staging a ${bytes}-byte weight`);
    block = { offset, bytes: size };
  }
  fill(new Float32Array(be.wasm.HEAPF32.buffer, block.offset, bytes / 4));
  const info = be.makeOutput(shape, "float32", block.offset);
  staged.set(info.dataId, block);
  return tf.engine().makeTensorFromTensorInfo(info);
}

function flush(): void {
  const be = internals();
  if (be && spare) be.wasm._free(spare.offset);
  spare = null;
}

const REGISTRY = Symbol.for("@nextscale/weight-packing");

function internals(): WasmBackendInternals | null {
  if (tf.getBackend() !== "wasm") return null;
  const be = tf.backend() as unknown as Partial<WasmBackendInternals>;
  return be.wasm && be.dataIdMap ? (be as WasmBackendInternals) : null;
}

/** Free `w`'s heap values (after poisoning them with NaN when `poison`). */
function release(w: tf.Tensor, poison = false): boolean {
  const be = internals();
  if (!be || w.dtype !== "float32" || w.isDisposed) return false;
  const data = be.dataIdMap.get(w.dataId);
  if (!data?.memoryOffset) return false;
  if (poison) be.wasm.HEAPF32.fill(Number.NaN, data.memoryOffset / 4, data.memoryOffset / 4 + w.size);
  const block = staged.get(w.dataId);
  if (block?.offset === data.memoryOffset) {
    staged.delete(w.dataId);
    if (spare) be.wasm._free(spare.offset); // keep one block: the newer, as large as the last weight
    spare = block;
  } else {
    be.wasm._free(data.memoryOffset);
  }
  data.memoryOffset = 0;
  return true;
}

/** Whether products still give the same result after their weight's unpacked values are freed. */
export function selfTest(): { ok: boolean; reason?: string } {
  if (!internals()) return { ok: false, reason: "not the tfjs-wasm backend" };
  const cases: [string, (w: tf.Tensor) => tf.Tensor, number[]][] = [
    ["matMul", (w) => tf.matMul(tf.reshape(tf.range(1, 9), [2, 4]), w as tf.Tensor2D), [4, 3]],
    [
      "conv2d as im2col + matMul",
      (w) =>
        conv2d(tf.reshape(tf.range(1, 33), [1, 4, 4, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, [
          [1, 1],
          [1, 1],
        ]),
      [3, 3, 2, 5],
    ],
    ["tf.conv2d", (w) => tf.conv2d(tf.reshape(tf.range(1, 33), [1, 4, 4, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, "same"), [3, 3, 2, 5]],
  ];
  for (const [name, product, shape] of cases) {
    const w = tf.tidy(() => tf.div(tf.reshape(tf.range(0, tf.util.sizeFromShape(shape)), shape), 7));
    try {
      const before = tf.tidy(() => product(w).dataSync().slice());
      if (!release(w, true)) return { ok: false, reason: `${name}: the weight's heap memory could not be found` };
      const after = tf.tidy(() => product(w).dataSync().slice());
      const same = before.length === after.length && before.every((v, i) => Number.isFinite(v) && v === after[i]);
      if (!same) return { ok: false, reason: `${name}: this tfjs-wasm build reads the weight again after packing it` };
    } finally {
      w.dispose();
    }
  }
  return { ok: true };
}

let status: { ok: boolean; reason?: string } | null = null;

/** Register wasm weight packing if the self-test passes; returns the outcome (cached). */
export function registerWasmWeightPacking(): { ok: boolean; reason?: string } {
  status ??= selfTest();
  const g = globalThis as unknown as Record<symbol, Map<string, WeightPacking> | undefined>;
  g[REGISTRY] ??= new Map();
  if (status.ok) g[REGISTRY].set("wasm", { release: (w) => release(w), stage, flush, conv2dFor });
  else g[REGISTRY].delete("wasm");
  return status;
}

/** The self-test's outcome, once the wasm backend has initialised. */
export function wasmWeightPackingStatus(): { ok: boolean; reason?: string } | null {
  return status;
}
