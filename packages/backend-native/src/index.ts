/**
 * @nextscale/backend-native: a tfjs backend for Node on a native addon
 * compiled at install. `register()` registers the backend "native" (the CPU
 * device); `@nextscale/backends` does that for you in
 * `initBackend("native")`. `status()` says which devices are built and
 * usable here, and why not.
 */
import "@tensorflow/tfjs-backend-cpu";
import { cpuStatus, cudaStatus, type DeviceStatus, loadAddon } from "./addon.js";
import { NATIVE_KERNELS, registerNative } from "./backend.js";
import { describeDevice } from "./device.js";

export type { DeviceStatus } from "./addon.js";
export { BACKEND_NAME, fallbackKernels, NativeBackend } from "./backend.js";
export type { Device } from "./device.js";
export { CUDA_BACKEND_NAME, CudaBackend, cudaDeviceStatus, cudaFallbackKernels, cudaInfo, registerCuda } from "./cuda/index.js";

/** Whether each device is built and can run here, with the reason when not. */
export function status(): { cpu: DeviceStatus; cuda: DeviceStatus } {
  return { cpu: cpuStatus(), cuda: cudaStatus() };
}

/**
 * Register the tfjs backend "native" (idempotent); then `tf.setBackend("native")`.
 * Throws, naming the reason, when the addon is not built or cannot load.
 * `threads`: the device's threads; `dnnl: false` (or NEXTSCALE_NATIVE_DNNL=0)
 * runs the convolutions as im2col + sgemm where the addon has oneDNN's.
 */
export function register(opts: { threads?: number; dnnl?: boolean } = {}): void {
  const { addon, reason } = loadAddon();
  if (!addon) throw new Error(`native: ${reason}`);
  if (opts.dnnl !== undefined || process.env.NEXTSCALE_NATIVE_DNNL === "0") addon.useDnnl((opts.dnnl ?? false) ? 1 : 0);
  if (opts.threads !== undefined) {
    if (!(Number.isInteger(opts.threads) && opts.threads >= 1)) throw new RangeError(`threads must be a positive integer (got ${opts.threads})`);
    addon.setThreads(opts.threads);
  }
  registerNative(addon);
}

/** What the CPU device runs on, and which kernels it runs natively. */
export function deviceInfo(): { device: string; threads: number; nativeKernels: string[] } {
  const { addon, reason } = loadAddon();
  if (!addon) return { device: `native: ${reason}`, threads: 0, nativeKernels: [] };
  const i = addon.info();
  return { device: describeDevice(i), threads: i.threads, nativeKernels: NATIVE_KERNELS.map((k) => k.kernelName) };
}
