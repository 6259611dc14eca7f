/**
 * Fast versions of the named fused ops that `@nextscale/core` defines
 * (core/src/kernels/: the op, its kernel name, its plain tfjs-ops fallback).
 * One file per kernel, named after it, listed here per backend; registered
 * only once that backend has initialised (`initBackend`), and only kernels
 * that measured faster than the fallback on that backend (see README).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendName } from "../types.js";
import { adaLNModulateConfig as adaLNModulateWasm } from "./wasm/AdaLNModulate.js";
import { groupNormActConfig as groupNormActWasm } from "./wasm/GroupNormAct.js";
import { kvAttentionConfig as kvAttentionWasm } from "./wasm/KVAttention.js";
import { resample2dConfig as resample2dWasm } from "./wasm/Resample2d.js";

/** The kernel names of core's fused ops (the contract with core/src/kernels). */
export const FUSED_KERNEL_NAMES = ["Resample2d", "AdaLNModulate", "KVAttention", "GroupNormAct"] as const;

// webgpu: none yet. The fused AdaLNModulate program (webgpu/) ran 0.27× the
// fallback's speed on SwiftShader, the only adapter measured so far.
const KERNELS: Partial<Record<BackendName, tf.KernelConfig[]>> = {
  wasm: [adaLNModulateWasm, kvAttentionWasm, resample2dWasm, groupNormActWasm],
};

export function registerFusedKernels(backend: BackendName): void {
  for (const k of KERNELS[backend] ?? []) {
    if (!tf.getKernel(k.kernelName, backend)) tf.registerKernel(k);
  }
}
