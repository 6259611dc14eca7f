/**
 * native and cuda: `@nextscale/backend-native`, an N-API addon compiled at
 * its install (a CPU device on OpenBLAS; a CUDA device built by nvcc when
 * present). It is an optional peer dependency: this package never imports
 * it statically, and without it both backends report "not installed".
 */
import type { Loader } from "../types.js";

/** What this loader uses of @nextscale/backend-native (typed here: the package is optional). */
interface DeviceStatus {
  built: boolean;
  available: boolean;
  reason: string;
}
interface NativePackage {
  status(): { cpu: DeviceStatus; cuda: DeviceStatus };
  register(opts?: { threads?: number }): void;
  deviceInfo(): { device: string; threads: number };
  fallbackKernels(): Record<string, number>;
  registerCuda(): void;
  cudaInfo(): { device: string; gemm: string };
  cudaFallbackKernels(): Record<string, number>;
}

const PACKAGE = "@nextscale/backend-native";
let loading: Promise<NativePackage | string> | undefined;

/** The package, or why it cannot be imported. */
function load(): Promise<NativePackage | string> {
  loading ??= (async () => {
    try {
      const name = PACKAGE; // a variable keeps bundlers from resolving it
      return (await import(/* @vite-ignore */ name)) as NativePackage;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "ERR_MODULE_NOT_FOUND" && err.message.includes(PACKAGE)) {
        return `${PACKAGE} is not installed (npm install ${PACKAGE})`;
      }
      return `${PACKAGE} cannot be loaded (${err.message})`;
    }
  })();
  return loading;
}

let pkg: NativePackage | undefined;

async function device(which: "cpu" | "cuda"): Promise<DeviceStatus> {
  const p = await load();
  if (typeof p === "string") return { built: false, available: false, reason: p };
  pkg = p;
  return p.status()[which];
}

let cpu: DeviceStatus | undefined;
let cuda: DeviceStatus | undefined;

export const nativeLoader: Loader = {
  async probe() {
    cpu = await device("cpu");
    return cpu.available ? undefined : `native: ${cpu.reason}`;
  },
  note: () => (cpu?.available ? cpu.reason : ""),
  async register(opts) {
    if (!pkg) throw new Error("native: probe first");
    pkg.register({ threads: opts.threads });
  },
  info() {
    const i = pkg?.deviceInfo() ?? { device: "native", threads: 0 };
    return { device: i.device, threads: i.threads, weightPacking: false, fallbackKernels: Object.keys(pkg?.fallbackKernels() ?? {}) };
  },
  built: () => !!cpu?.built,
};

export const cudaLoader: Loader = {
  async probe() {
    cuda = await device("cuda");
    return cuda.available ? undefined : `cuda: ${cuda.reason}`;
  },
  note: () => (cuda?.available ? cuda.reason : ""),
  async register() {
    if (!pkg) throw new Error("cuda: probe first");
    pkg.registerCuda(); // the GPU, or the host emulation with NEXTSCALE_CUDA_EMULATE=1 (its device string says so)
  },
  info() {
    const i = pkg?.cudaInfo() ?? { device: "cuda", gemm: "" };
    return { device: i.gemm ? `${i.device}; GEMM: ${i.gemm}` : i.device, weightPacking: false, fallbackKernels: Object.keys(pkg?.cudaFallbackKernels() ?? {}) };
  },
  built: () => !!cuda?.built,
};
