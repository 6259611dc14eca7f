/**
 * AdaLNModulate on wasm: LN(x)·(1 + scale) + shift in one pass per token
 * row over the wasm heap, where the fallback runs about ten kernels and
 * allocates their intermediates. The op and its fallback are `adaLNModulate`
 * in @nextscale/core (core/src/kernels/ada-ln-modulate.ts).
 */
import { AdaLNModulate, type AdaLNModulateAttrs, type AdaLNModulateInputs } from "@nextscale/contract";
import type * as tf from "@tensorflow/tfjs-core";
import type { KernelArgs, WasmBackend } from "./backend-wasm.js";

function adaLNModulate({ inputs, backend, attrs }: KernelArgs<AdaLNModulateInputs, AdaLNModulateAttrs>) {
  const be = backend as WasmBackend;
  const { x, scale, shift } = inputs;
  const { eps } = attrs!;
  const [B, L, C] = x.shape;
  const out = be.makeOutput(x.shape, "float32");
  // typedArrayFromHeap after makeOutput: allocating may grow (and move) the heap
  const X = be.typedArrayFromHeap(x);
  const S = be.typedArrayFromHeap(scale);
  const T = be.typedArrayFromHeap(shift);
  const Y = be.typedArrayFromHeap(out);
  for (let b = 0; b < B; b++) {
    const sb = b * C;
    for (let l = 0; l < L; l++) {
      const o = (b * L + l) * C;
      let sum = 0;
      for (let c = 0; c < C; c++) sum += X[o + c];
      const mean = sum / C;
      let sq = 0;
      for (let c = 0; c < C; c++) {
        const d = X[o + c] - mean;
        sq += d * d;
      }
      const rstd = 1 / Math.sqrt(sq / C + eps);
      for (let c = 0; c < C; c++) Y[o + c] = (X[o + c] - mean) * rstd * (1 + S[sb + c]) + T[sb + c];
    }
  }
  return out;
}

export const adaLNModulateConfig: tf.KernelConfig = {
  kernelName: AdaLNModulate,
  backendName: "wasm",
  kernelFunc: adaLNModulate as unknown as tf.KernelFunc,
};
