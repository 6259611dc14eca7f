/**
 * Resampling as precomputed matrices. Every `F.interpolate` the VAR models
 * use is a fixed linear map per (in size, out size), so it is built once as
 * an (out × in) matrix M in float64 and applied per channel as M · X · Mᵀ,
 * which is exact and runs well on every backend. The constructions follow
 * PyTorch's kernels (aten/src/ATen/native/UpSample.h, AdaptiveAveragePooling);
 * see shared docs `var-reference.md` for the derivations.
 */
import * as tf from "@tensorflow/tfjs-core";
import { resample2d } from "./kernels/resample2d.js";

export type ResampleMode = "area" | "bicubic" | "bilinear" | "nearest";

const A = -0.75; // PyTorch's cubic convolution coefficient
const c1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
const c2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;

/**
 * The two taps of each output of a 1-D bilinear resize (`align_corners=False`)
 * and their float32 weights, exactly as PyTorch's CPU kernels compute them
 * (measured against Debian's torch 1.13.1: every weight bit for bit): the
 * scale in float32, fl(in/out); the source index (o + 0.5)·scale − 0.5 in
 * float64, clamped at 0; i0 its floor (at most in − 1); λ1 = fl(src − i0)
 * clamped to [0, 1] and λ0 = fl(1 − λ1). Same sizes: a copy (λ0 = 1).
 * Float64 weights differ in the last bits, which decides thresholds at
 * exactly 0.5 (edit masks) the other way.
 */
export interface BilinearTaps {
  i0: Int32Array;
  i1: Int32Array;
  l0: Float32Array;
  l1: Float32Array;
}

export function bilinearTaps(inSize: number, outSize: number): BilinearTaps {
  const t = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), l0: new Float32Array(outSize), l1: new Float32Array(outSize) };
  const scale = Math.fround(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (inSize === outSize) {
      t.i0[o] = t.i1[o] = o;
      t.l0[o] = 1;
      continue;
    }
    const src = Math.max(scale * (o + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    t.i0[o] = i0;
    t.i1[o] = i0 < inSize - 1 ? i0 + 1 : i0;
    t.l1[o] = Math.min(Math.max(src - i0, 0), 1);
    t.l0[o] = 1 - t.l1[o];
  }
  return t;
}

/**
 * The (out × in) matrix of a 1-D resize, row-major, float64 (bilinear:
 * PyTorch's float32 weights, see `bilinearTaps`).
 */
export function resampleMatrix(mode: ResampleMode, inSize: number, outSize: number): Float64Array {
  if (!(Number.isInteger(inSize) && Number.isInteger(outSize) && inSize > 0 && outSize > 0)) {
    throw new RangeError(`resampleMatrix: sizes must be positive integers (got ${inSize} -> ${outSize})`);
  }
  const M = new Float64Array(outSize * inSize);
  const bilinear = mode === "bilinear" ? bilinearTaps(inSize, outSize) : null;
  const s = inSize / outSize;
  const clamp = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  for (let o = 0; o < outSize; o++) {
    const row = o * inSize;
    if (mode === "area") {
      // adaptive average pooling: floor(o·in/out) … ceil((o+1)·in/out) − 1
      const a = Math.floor((o * inSize) / outSize);
      const b = Math.ceil(((o + 1) * inSize) / outSize);
      for (let i = a; i < b; i++) M[row + i] = 1 / (b - a);
    } else if (mode === "bicubic") {
      const src = (o + 0.5) * s - 0.5; // align_corners=False, not clamped
      const f = Math.floor(src);
      const t = src - f;
      const w = [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
      for (let k = 0; k < 4; k++) M[row + clamp(f - 1 + k)] += w[k];
    } else if (mode === "bilinear") {
      const { i0, i1, l0, l1 } = bilinear!;
      M[row + i0[o]] += l0[o];
      M[row + i1[o]] += l1[o];
    } else {
      // nearest (PyTorch's legacy 'nearest': floor(o·in/out))
      M[row + Math.min(Math.floor(o * s), inSize - 1)] = 1;
    }
  }
  return M;
}

const cache = new Map<string, tf.Tensor2D>();
/** The matrix as a kept float32 tensor (cached per mode and sizes). */
export function resampleTensor(mode: ResampleMode, inSize: number, outSize: number): tf.Tensor2D {
  const key = `${mode}:${inSize}:${outSize}:${tf.getBackend()}`;
  let m = cache.get(key);
  if (!m || m.isDisposed) {
    m = tf.keep(tf.tensor2d(Float32Array.from(resampleMatrix(mode, inSize, outSize)), [outSize, inSize]));
    cache.set(key, m);
  }
  return m;
}

/**
 * Resize NHWC images to (outH, outW) exactly as `F.interpolate(mode,
 * align_corners=False)` does on NCHW: Y = Mh · X · Mwᵀ per channel.
 */
export function resize2d(x: tf.Tensor4D, outH: number, outW: number, mode: ResampleMode): tf.Tensor4D {
  const [, H, W] = x.shape;
  if (H === outH && W === outW && mode !== "nearest") return tf.clone(x);
  return resample2d(x, resampleTensor(mode, H, outH), resampleTensor(mode, W, outW));
}
