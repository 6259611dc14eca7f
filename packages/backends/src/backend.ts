/**
 * Choose, initialise and describe the compute backend. Each backend has a
 * loader (`loaders/*.ts`) with a cheap probe that names the cause when it
 * cannot run; a backend named explicitly that cannot run is an error, never
 * a silent fallback.
 */

import { FUSED_KERNELS } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import { registerFusedKernels } from "./kernels/register-all.js";
import { registerTrainingKernels } from "./kernels/training.js";
import { cpuLoader } from "./loaders/cpu.js";
import { cudaLoader, nativeLoader } from "./loaders/native.js";
import { wasmLoader } from "./loaders/wasm.js";
import { webgpuLoader } from "./loaders/webgpu.js";
import {
  ALL_BACKENDS,
  type BackendInfo,
  type BackendName,
  type BackendStatus,
  BackendUnavailableError,
  type InitOptions,
  type Loader,
} from "./types.js";

const loaders: Record<BackendName, Loader> = { cuda: cudaLoader, webgpu: webgpuLoader, native: nativeLoader, wasm: wasmLoader, cpu: cpuLoader };

/** Every backend with whether it can run here and, if not, why (if so, on what). */
export async function listBackends(): Promise<BackendStatus[]> {
  const out: BackendStatus[] = [];
  for (const name of ALL_BACKENDS) {
    const loader = loaders[name];
    const reason = await loader.probe();
    out.push({ name, available: !reason, reason: reason ?? (loader.note() || "ok"), built: loader.built() });
  }
  return out;
}

/**
 * Initialise a backend by name, or the first available in a preference
 * order (default: cuda, webgpu, native, wasm, cpu), and register its fused kernels.
 * Resolves to the name chosen; when none can run, throws a
 * `BackendUnavailableError` listing each one's reason.
 */
export async function initBackend(
  pref: BackendName | readonly BackendName[] = ALL_BACKENDS,
  opts: InitOptions = {},
): Promise<BackendName> {
  const names = typeof pref === "string" ? [pref] : pref;
  const reasons: string[] = [];
  for (const name of names) {
    const loader = loaders[name as BackendName];
    if (!loader) throw new BackendUnavailableError(`unknown backend "${name}" (known: ${ALL_BACKENDS.join(", ")})`);
    const reason = await loader.probe();
    if (reason) {
      reasons.push(reason);
      continue;
    }
    try {
      await loader.register(opts);
      if (!(await tf.setBackend(name))) throw new Error("tf.setBackend returned false");
      await tf.ready();
    } catch (e) {
      loader.abortInit?.();
      reasons.push(`${name}: initialisation failed (${(e as Error).message})`);
      continue;
    }
    registerFusedKernels(name);
    registerTrainingKernels(name);
    loader.afterInit?.();
    return name;
  }
  throw new BackendUnavailableError(`no usable backend among [${names.join(", ")}]:\n  ${reasons.join("\n  ")}`);
}

/** What the active backend runs on: adapter (webgpu), threads and SIMD (wasm). */
export function backendInfo(): BackendInfo {
  const name = tf.getBackend();
  const loader = loaders[name as BackendName];
  const fusedKernels = FUSED_KERNELS.filter((k) => tf.getKernel(k, name) !== undefined);
  if (!loader) return { name, device: name, fusedKernels, weightPacking: false };
  return { name, ...loader.info(), fusedKernels };
}

/** Parse `NEXTSCALE_BACKEND` (a name or a comma-separated preference list). */
export function backendFromEnv(value: string | undefined, fallback: readonly BackendName[]): readonly BackendName[] {
  if (!value) return fallback;
  return value.split(",").map((s) => s.trim()) as BackendName[];
}
