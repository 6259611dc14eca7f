/**
 * Every fast kernel written for core's fused ops, one file per kernel and
 * backend, in one list. A kernel is registered (`register: true`) only once
 * it measured faster than core's fallback on its backend
 * (bench/fused-kernels.mjs times every entry, registered or not); the
 * others say why not. Kernel names come from `@nextscale/contract`, so a
 * kernel core does not dispatch cannot be listed (`registerFusedKernels`
 * refuses it, and a test checks the list).
 */
import { isFusedKernel } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import { adaLNModulateConfig as adaLNModulateWasm } from "./wasm/ada-ln-modulate.js";
import { groupNormActConfig as groupNormActWasm } from "./wasm/group-norm-act.js";
import { kvAttentionConfig as kvAttentionWasm } from "./wasm/kv-attention.js";
import { resample2dConfig as resample2dWasm } from "./wasm/resample2d.js";
import { adaLNModulateConfig as adaLNModulateWebgpu } from "./webgpu/ada-ln-modulate.js";

export interface KernelEntry {
  config: tf.KernelConfig;
  /** Whether `initBackend` registers it. */
  register: boolean;
  /** Why it is not registered. */
  why?: string;
}

export const KERNELS: readonly KernelEntry[] = [
  { config: adaLNModulateWasm, register: true },
  { config: kvAttentionWasm, register: true },
  { config: resample2dWasm, register: true },
  { config: groupNormActWasm, register: true },
  {
    config: adaLNModulateWebgpu,
    register: false,
    why: "0.27× the fallback's speed on SwiftShader, the only adapter measured so far",
  },
];

/** Register the listed kernels of `backend` (once it has initialised). */
export function registerFusedKernels(backend: string): void {
  for (const { config, register } of KERNELS) {
    if (config.backendName !== backend || !register) continue;
    if (!isFusedKernel(config.kernelName)) {
      throw new Error(`${backend}: kernel "${config.kernelName}" is not a fused kernel of @nextscale/contract`);
    }
    if (!tf.getKernel(config.kernelName, backend)) tf.registerKernel(config);
  }
}
