/**
 * Overrides of tfjs kernels that training runs and tfjs-wasm runs slowly:
 * the products of the backward pass (transposed operands, batches) and
 * the input gradient of a convolution. Unlike the fused kernels
 * (register-all.ts) these replace a tfjs kernel under its own name; each
 * keeps tfjs's kernel as its fallback for the cases it does not handle and
 * leaves untransposed single products (inference) to it. Measured with
 * tools/bench/backward-products.mjs; see the README's "Training speed".
 */
import { enableBatchMatMul, installBatchMatMul } from "./wasm/batch-mat-mul.js";
import { enableConv2DBackpropInput, installConv2DBackpropInput } from "./wasm/conv2d-backprop-input.js";

export const TRAINING_KERNELS: Readonly<Record<string, readonly string[]>> = {
  wasm: ["BatchMatMul", "Conv2DBackpropInput"],
};

/** Install the overrides of `backend` (once it has initialised). */
export function registerTrainingKernels(backend: string): void {
  if (backend !== "wasm") return;
  installBatchMatMul();
  installConv2DBackpropInput();
}

/**
 * Turn the overrides of `backend` on or off (off: every call goes to tfjs's
 * own kernel; benchmarks and tests time and compare both side by side).
 */
export function setTrainingKernels(backend: string, on: boolean): void {
  if (backend !== "wasm") return;
  enableBatchMatMul(on);
  enableConv2DBackpropInput(on);
}
