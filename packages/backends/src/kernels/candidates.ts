/**
 * Every fast kernel written, per backend, whether or not it is registered:
 * bench/fused-kernels.mjs times each against its fallback, and only the
 * winners go into register-all.ts (webgpu's AdaLNModulate is waiting for a
 * measurement on a real GPU).
 */
import type * as tf from "@tensorflow/tfjs-core";
import { adaLNModulateConfig as adaLNModulateWasm } from "./wasm/AdaLNModulate.js";
import { groupNormActConfig as groupNormActWasm } from "./wasm/GroupNormAct.js";
import { kvAttentionConfig as kvAttentionWasm } from "./wasm/KVAttention.js";
import { resample2dConfig as resample2dWasm } from "./wasm/Resample2d.js";
import { adaLNModulateConfig as adaLNModulateWebgpu } from "./webgpu/AdaLNModulate.js";

export const CANDIDATES: Record<string, tf.KernelConfig[]> = {
  webgpu: [adaLNModulateWebgpu],
  wasm: [adaLNModulateWasm, kvAttentionWasm, resample2dWasm, groupNormActWasm],
};
