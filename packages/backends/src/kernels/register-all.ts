/**
 * Fast versions of the named fused ops that `@nextscale/core` defines
 * (core/src/kernels/: the op, its kernel name, its plain tfjs-ops fallback).
 * One file per kernel, named after it, listed here per backend; registered
 * only once that backend has initialised (`initBackend`), and only kernels
 * that measured faster than the fallback on that backend (see README).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendName } from "../types.js";

/** The kernel names of core's fused ops (the contract with core/src/kernels). */
export const FUSED_KERNEL_NAMES = ["Resample2d", "AdaLNModulate", "KVAttention"] as const;

const KERNELS: Partial<Record<BackendName, tf.KernelConfig[]>> = {};

export function registerFusedKernels(backend: BackendName): void {
  for (const k of KERNELS[backend] ?? []) {
    if (!tf.getKernel(k.kernelName, backend)) tf.registerKernel(k);
  }
}
