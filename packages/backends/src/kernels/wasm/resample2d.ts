/**
 * Resample2d on wasm: Y = Mh·X·Mwᵀ as two passes over the wasm heap that
 * skip the zeros of the resampling matrices (bicubic has 4 taps per row,
 * bilinear 2, area a few), where the fallback runs dense matrix products
 * on broadcast copies of the matrices. The op and its fallback are
 * `resample2d` in @nextscale/core (core/src/kernels/resample2d.ts).
 */
import { Resample2d, type Resample2dInputs } from "@nextscale/contract";
import type * as tf from "@tensorflow/tfjs-core";
import type { KernelArgs, WasmBackend } from "./backend-wasm.js";

/** The non-zero taps of each row of an (out × in) matrix. */
function taps(M: Float32Array, rows: number, cols: number): { idx: Int32Array; w: Float32Array; start: Int32Array } {
  const start = new Int32Array(rows + 1);
  const idx: number[] = [];
  const w: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const m = M[r * cols + j];
      if (m !== 0) {
        idx.push(j);
        w.push(m);
      }
    }
    start[r + 1] = idx.length;
  }
  return { idx: Int32Array.from(idx), w: Float32Array.from(w), start };
}

function resample2d({ inputs, backend }: KernelArgs<Resample2dInputs>) {
  const be = backend as WasmBackend;
  const { x, mh, mw } = inputs as Record<"x" | "mh" | "mw", tf.TensorInfo>;
  const [B, H, W, C] = x.shape;
  const [h, w] = [mh.shape[0], mw.shape[0]];
  const out = be.makeOutput([B, h, w, C], "float32");
  const th = taps(be.typedArrayFromHeap(mh), h, H);
  const tw = taps(be.typedArrayFromHeap(mw), w, W);
  const X = be.typedArrayFromHeap(x);
  const Y = be.typedArrayFromHeap(out);
  const row = new Float32Array(W * C); // one output row before the column pass, (W, C)
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < h; o++) {
      row.fill(0);
      for (let t = th.start[o]; t < th.start[o + 1]; t++) {
        const src = (b * H + th.idx[t]) * W * C;
        const m = th.w[t];
        for (let i = 0; i < W * C; i++) row[i] += m * X[src + i];
      }
      const dst = (b * h + o) * w * C;
      for (let p = 0; p < w; p++) {
        const d = dst + p * C;
        for (let ch = 0; ch < C; ch++) Y[d + ch] = 0;
        for (let t = tw.start[p]; t < tw.start[p + 1]; t++) {
          const s = tw.idx[t] * C;
          const m = tw.w[t];
          for (let ch = 0; ch < C; ch++) Y[d + ch] += m * row[s + ch];
        }
      }
    }
  }
  return out;
}

export const resample2dConfig: tf.KernelConfig = {
  kernelName: Resample2d,
  backendName: "wasm",
  kernelFunc: resample2d as unknown as tf.KernelFunc,
};
