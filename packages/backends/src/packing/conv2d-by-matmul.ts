/**
 * Convolution as matrix products (im2col), for packed convolution filters
 * over 4 MB on wasm: XNNPACK's convolution operator keeps two packed copies
 * of its filter, its fully connected operator (matMul) one (measured).
 *
 * For each band of output rows, the patches (rows·Wo, kh·kw·C) in
 * (ky, kx, c) order are multiplied by the HWIO filter seen as a
 * (kh·kw·C, O) matrix; tfjs-wasm sends that product to XNNPACK's fully
 * connected operator, which sums in the same order, so the results equal
 * tf.conv2d's (measured in the tests). It costs about 20% more time than
 * tf.conv2d at 256×256 (copying the patches). Runs on tensor infos, as a
 * kernel.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WasmBackend } from "../kernels/wasm/backend-wasm.js";

/** Floats of patches built at a time (a band of output rows): 32 MB. */
export const IM2COL_CHUNK = 8 << 20;

export interface Conv2DAttrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat?: "NHWC" | "NCHW";
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/** y (B, Ho, Wo, O) = conv2d(x (B, H, W, C), filter (kh, kw, C, O)) through `matMul` (a BatchMatMul kernel function). */
export function conv2dByMatMul(
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: Conv2DAttrs,
  be: WasmBackend,
  matMul: tf.KernelFunc,
  chunkFloats = IM2COL_CHUNK,
): tf.TensorInfo {
  if ((attrs.dataFormat ?? "NHWC") !== "NHWC") throw new Error("conv2dByMatMul: NHWC only");
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new Error("conv2dByMatMul: no dilation");
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo, outChannels: O } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  const K = kh * kw * C;
  const product = (a: tf.TensorInfo) =>
    matMul({
      inputs: { a, b: { dataId: filter.dataId, shape: [1, K, O], dtype: "float32" } },
      backend: be as unknown as tf.KernelBackend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;

  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && Ho === H && Wo === W) {
    const y = product({ dataId: x.dataId, shape: [1, B * H * W, C], dtype: "float32" });
    return { dataId: y.dataId, shape: [B, Ho, Wo, O], dtype: "float32" };
  }
  const out = be.makeOutput([B, Ho, Wo, O], "float32");
  const band = Math.max(1, Math.min(Ho, Math.floor(chunkFloats / (Wo * K))));
  for (let b = 0; b < B; b++) {
    for (let r0 = 0; r0 < Ho; r0 += band) {
      const r1 = Math.min(Ho, r0 + band);
      const cols = be.makeOutput([1, (r1 - r0) * Wo, K], "float32");
      // heap views after the allocation: allocating may grow (and move) the heap
      const X = be.typedArrayFromHeap(x).subarray(b * H * W * C, (b + 1) * H * W * C);
      const P = be.typedArrayFromHeap(cols);
      for (let r = r0; r < r1; r++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = r * sh + ky - padInfo.top;
          for (let c = 0; c < Wo; c++) {
            const dst = ((r - r0) * Wo + c) * K + ky * kw * C;
            if (iy < 0 || iy >= H) {
              P.fill(0, dst, dst + kw * C);
              continue;
            }
            // taps ix0 … ix0 + kw − 1 of this row; those outside [0, W) are zero padding
            const ix0 = c * sw - padInfo.left;
            const a = Math.max(0, ix0);
            const e = Math.max(a, Math.min(W, ix0 + kw));
            P.fill(0, dst, dst + (a - ix0) * C);
            P.set(X.subarray((iy * W + a) * C, (iy * W + e) * C), dst + (a - ix0) * C);
            P.fill(0, dst + (e - ix0) * C, dst + kw * C);
          }
        }
      }
      const y = product(cols);
      be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(y), (b * Ho + r0) * Wo * O);
      be.disposeData(cols.dataId);
      be.disposeData(y.dataId);
    }
  }
  return out;
}
