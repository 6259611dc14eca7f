/**
 * The tfjs backend "cuda" (backend.ts) on a CUDA device build (device.ts):
 * registration, the host fallback for kernels the device lacks, and status.
 *
 * Every kernel registered for "cpu" is registered for "cuda": the device's
 * kernel (kernels.ts) runs when there is one and it takes the case;
 * otherwise the inputs are copied to the host, tfjs-backend-cpu's kernel
 * runs on a private MathBackendCPU, and its outputs are copied back; the
 * kernel's name is recorded (`cudaFallbackKernels()`), and named once on
 * stderr with NEXTSCALE_CUDA_NOTICES=1 (or NEXTSCALE_NATIVE_NOTICES=1).
 */
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import type { DeviceStatus } from "../addon.js";
import { CudaBackend } from "./backend.js";
import { emulateFromEnv, loadCudaDevice } from "./device.js";
import { CUDA_KERNELS, type CudaArgs } from "./kernels.js";

export const CUDA_BACKEND_NAME = "cuda";

export { CudaBackend } from "./backend.js";
export { bucketOf, CachingAllocator } from "./allocator.js";

const fallbacks = new Map<string, number>();
/** Kernels that ran tfjs-backend-cpu's kernel on host copies on the cuda backend, with call counts. */
export function cudaFallbackKernels(): Record<string, number> {
  return Object.fromEntries([...fallbacks].sort((a, b) => b[1] - a[1]));
}

function noteFallback(name: string): void {
  const n = fallbacks.get(name) ?? 0;
  fallbacks.set(name, n + 1);
  const env = process.env;
  if (n === 0 && (env.NEXTSCALE_CUDA_NOTICES === "1" || env.NEXTSCALE_NATIVE_NOTICES === "1")) {
    console.warn(`cuda: kernel "${name}" has no device version for this case; it runs tfjs-backend-cpu's kernel on host copies`);
  }
}

/** The device build (GPU, or the host emulation when `emulate` / NEXTSCALE_CUDA_EMULATE=1): built, usable, and why not. */
export function cudaDeviceStatus(opts: { emulate?: boolean } = {}): DeviceStatus {
  const emulate = opts.emulate ?? emulateFromEnv();
  const { device, reason, built } = loadCudaDevice(emulate);
  if (!device) return { built, available: false, reason: reason! };
  return { built, available: true, reason: `${device.deviceName()}; GEMM: ${device.gemmName()}` };
}

let host: MathBackendCPU | undefined;

/** Run tfjs-backend-cpu's `kernel` on host copies of the inputs; outputs copied back to `be`. */
function onHost(kernel: tf.KernelFunc, args: CudaArgs): tf.TensorInfo | tf.TensorInfo[] {
  host ??= new MathBackendCPU();
  (host as unknown as { firstUse: boolean }).firstUse = false;
  const be = args.backend;
  const made: tf.DataId[] = [];
  const copy = (t: tf.TensorInfo): tf.TensorInfo => {
    const dataId = host!.write(be.readSync(t.dataId), t.shape, t.dtype);
    made.push(dataId);
    return { dataId, shape: t.shape, dtype: t.dtype };
  };
  // AddN, Concat, Pack take an array of inputs
  const inputs = Array.isArray(args.inputs)
    ? (args.inputs as tf.TensorInfo[]).map(copy)
    : Object.fromEntries(Object.entries(args.inputs).flatMap(([k, t]) => (t ? [[k, copy(t)]] : [])));
  try {
    const out = kernel({ inputs, backend: host, attrs: args.attrs ?? {} } as unknown as Parameters<tf.KernelFunc>[0]);
    const back = (o: tf.TensorInfo): tf.TensorInfo => {
      made.push(o.dataId);
      return { dataId: be.write(host!.readSync(o.dataId), o.shape, o.dtype), shape: o.shape, dtype: o.dtype };
    };
    return Array.isArray(out) ? out.map(back) : back(out);
  } finally {
    for (const id of made) host.disposeData(id, true);
  }
}

let registered = false;

/**
 * Register the tfjs backend "cuda" (once) on the GPU, or on the host
 * emulation with `emulate` (NEXTSCALE_CUDA_EMULATE=1). Throws with the
 * reason when the device build is missing or finds no device.
 */
export function registerCuda(opts: { emulate?: boolean } = {}): void {
  const emulate = opts.emulate ?? emulateFromEnv();
  const { device, reason } = loadCudaDevice(emulate);
  if (!device) throw new Error(`cuda: ${reason}`);
  if (registered) return;
  registered = true;
  tf.registerBackend(CUDA_BACKEND_NAME, () => new CudaBackend(device, emulate), 0);
  const own = new Map(CUDA_KERNELS.map((k) => [k.kernelName, k]));
  const cpu = new Map(tf.getKernelsForBackend("cpu").map((c) => [c.kernelName, c]));
  for (const [name, config] of cpu) {
    const mine = own.get(name);
    const fallback = config.kernelFunc;
    tf.registerKernel({
      kernelName: name,
      backendName: CUDA_BACKEND_NAME,
      kernelFunc: (args) => {
        const a = args as unknown as CudaArgs;
        const out = mine?.run(a);
        if (out) return out;
        noteFallback(name);
        return onHost(fallback, a);
      },
    });
  }
  for (const k of CUDA_KERNELS) {
    if (cpu.has(k.kernelName)) continue;
    tf.registerKernel({
      kernelName: k.kernelName,
      backendName: CUDA_BACKEND_NAME,
      kernelFunc: (args) => {
        const out = k.run(args as unknown as CudaArgs);
        if (!out) throw new Error(`cuda: kernel "${k.kernelName}" declined its inputs and has no fallback kernel`);
        return out;
      },
    });
  }
}

/** What the registered cuda backend runs on (say "host emulation, not a GPU" when emulated). */
export function cudaInfo(opts: { emulate?: boolean } = {}): { device: string; gemm: string; emulated: boolean; deviceKernels: string[] } {
  const emulate = opts.emulate ?? emulateFromEnv();
  const { device, reason } = loadCudaDevice(emulate);
  return {
    device: device ? `cuda: ${device.deviceName()}` : `cuda: ${reason}`,
    gemm: device?.gemmName() ?? "",
    emulated: emulate,
    deviceKernels: CUDA_KERNELS.map((k) => k.kernelName),
  };
}
