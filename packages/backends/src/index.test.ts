import { availableParallelism } from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it, vi } from "vitest";
import { FUSED_KERNELS, isFusedKernel } from "@nextscale/contract";
import { BackendUnavailableError, backendFromEnv, backendInfo, initBackend, KERNELS, listBackends, SWIFTSHADER_ICD } from "./index.js";
import { cpuLoader } from "./loaders/cpu.js";
import { reportLogicalCores, wasmLoader } from "./loaders/wasm.js";
import { vulkanHint } from "./loaders/webgpu.js";

describe("backends", () => {
  it("lists every backend with availability and a reason", async () => {
    const list = await listBackends();
    console.log(JSON.stringify(list));
    expect(list.map((b) => b.name)).toEqual(["cuda", "webgpu", "native", "wasm", "cpu"]);
    for (const b of list) {
      expect(b.reason.length).toBeGreaterThan(0);
      if (!b.available) expect(b.reason.startsWith(`${b.name}: `)).toBe(true);
    }
    expect(list.find((b) => b.name === "cpu")!.available).toBe(true);
    expect(list.find((b) => b.name === "wasm")!.available).toBe(true);
    const webgpu = list.find((b) => b.name === "webgpu")!;
    expect(webgpu.reason).toMatch(webgpu.available ? /^adapter: \S/ : /^webgpu: (no adapter \(.+\)|the )/);
  });

  it("initialises the backend named by NEXTSCALE_BACKEND, computes, and says what it runs on", async () => {
    const name = await initBackend(backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"]));
    const info = backendInfo();
    console.log(`backend: ${name}`, JSON.stringify(info));
    expect(tf.getBackend()).toBe(name);
    expect(info.name).toBe(name);
    expect(info.device.length).toBeGreaterThan(0);
    if (name === "wasm") {
      expect(info.simd).toBe(true);
      expect(info.threads).toBe(Math.min(8, availableParallelism()));
      expect(info.fusedKernels).toEqual([...FUSED_KERNELS]); // all four measured faster on wasm
    }
    if (name === "webgpu") expect(info.adapter?.vendor).toBeTypeOf("string");
    if (name === "native") expect(info.fusedKernels).toEqual([...FUSED_KERNELS]); // all four run on the CPU device
    expect(Array.from(await tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).data())).toEqual([11]);
  });

  it("an unknown or unavailable backend is a clear error", async () => {
    await expect(initBackend("tpu" as never)).rejects.toThrow(/unknown backend "tpu"/);
    await expect(initBackend("cuda")).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(initBackend("cuda")).rejects.toThrow(/cuda: (not built|no CUDA|a CUDA device is present|@nextscale\/backend-native)/);
    await expect(initBackend("wasm", { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
    const webgpu = (await listBackends()).find((b) => b.name === "webgpu")!;
    if (!webgpu.available) await expect(initBackend("webgpu")).rejects.toThrow(webgpu.reason);
  });

  it("the wasm module leaves Node's own error reporting in place (no Emscripten process handlers)", async (ctx) => {
    if (tf.getBackend() !== "wasm") ctx.skip("only on wasm");
    // Emscripten's glue adds these when the module loads; left in place, every uncaught error in the
    // user's program prints the module's minified source (about 55 KB) and exits with code 7
    const emscripten = (l: unknown) => /ExitStatus|^function\s*\(reason\)\s*\{\s*throw reason\s*\}$/.test(String(l));
    const found = [...process.listeners("uncaughtException"), ...process.listeners("unhandledRejection")].filter(emscripten);
    expect(found.map(String)).toEqual([]);
  });

  it("a backend whose initialisation fails is undone (abortInit) and named with its reason; the active one stays", async () => {
    const before = tf.getBackend();
    const register = vi.spyOn(cpuLoader, "register").mockRejectedValueOnce(new Error("no memory for the test"));
    const abortInit = vi.fn();
    cpuLoader.abortInit = abortInit;
    try {
      await expect(initBackend("cpu")).rejects.toThrow(/cpu: initialisation failed \(no memory for the test\)/);
      expect(abortInit).toHaveBeenCalledTimes(1);
      expect(tf.getBackend()).toBe(before);
    } finally {
      register.mockRestore();
      delete cpuLoader.abortInit;
    }
  });

  it("wasm: the logical cores reported to tfjs while it initialises are put back when initialisation fails", () => {
    const g = globalThis as { navigator?: object };
    const own = Object.getOwnPropertyDescriptor(g, "navigator");
    const nav = { hardwareConcurrency: 2 };
    Object.defineProperty(g, "navigator", { configurable: true, writable: true, value: nav });
    try {
      reportLogicalCores(8);
      expect(nav.hardwareConcurrency).toBe(8);
      wasmLoader.abortInit!();
      expect(nav.hardwareConcurrency).toBe(2);
      expect(Object.getOwnPropertyDescriptor(nav, "hardwareConcurrency")).toEqual({ value: 2, writable: true, enumerable: true, configurable: true });
    } finally {
      if (own) Object.defineProperty(g, "navigator", own);
      else delete g.navigator;
    }
  });

  it("a missing WebGPU adapter on Linux names the missing piece", () => {
    const has = (files: string[]) => (f: string) => files.includes(f);
    const loader = "/usr/lib/x86_64-linux-gnu/libvulkan.so.1";
    expect(vulkanHint({}, has([]))).toMatch(/libvulkan\.so\.1 is not installed/);
    expect(vulkanHint({}, has([loader]))).toMatch(/install Debian's chromium package/);
    expect(vulkanHint({}, has([loader, SWIFTSHADER_ICD]))).toBe(
      `Vulkan found no usable GPU; for the SwiftShader software adapter set VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`,
    );
    expect(vulkanHint({ VK_ICD_FILENAMES: "/x.json" }, has([loader]))).toBe("VK_ICD_FILENAMES names a missing file: /x.json");
    expect(vulkanHint({ VK_DRIVER_FILES: "/y.json" }, has([loader, "/y.json"]))).toMatch(/no usable device with VK_DRIVER_FILES/);
  });
});

describe("the kernel contract", () => {
  it("every kernel a backend lists has a name core dispatches, and every such name has a fast kernel somewhere", () => {
    const unknown = KERNELS.filter((k) => !isFusedKernel(k.config.kernelName)).map((k) => `${k.config.backendName}/${k.config.kernelName}`);
    expect(unknown, "kernels under names @nextscale/contract does not define").toEqual([]);
    const registered = new Set(KERNELS.filter((k) => k.register).map((k) => k.config.kernelName));
    expect(FUSED_KERNELS.filter((n) => !registered.has(n)), "contract names no backend registers a kernel for").toEqual([]);
    for (const k of KERNELS.filter((e) => !e.register)) expect(k.why, `${k.config.backendName}/${k.config.kernelName}: why not registered`).toBeTruthy();
    const pairs = KERNELS.map((k) => `${k.config.backendName}/${k.config.kernelName}`);
    expect(new Set(pairs).size, "one kernel per name and backend").toBe(pairs.length);
  });

  it("initBackend registers exactly the listed kernels of the active backend", () => {
    const name = tf.getBackend();
    // native registers its fused kernels itself (@nextscale/backend-native is an optional package, not in KERNELS)
    const listed =
      name === "native"
        ? [...FUSED_KERNELS]
        : KERNELS.filter((k) => k.register && k.config.backendName === name).map((k) => k.config.kernelName);
    expect(FUSED_KERNELS.filter((k) => tf.getKernel(k, name)).sort()).toEqual([...listed].sort());
  });
});

describe("webgpu in Node", () => {
  it("a synchronous read says to use data() instead of failing on OffscreenCanvas", async (ctx) => {
    if (tf.getBackend() !== "webgpu") ctx.skip("only on webgpu");
    const t = tf.matMul(tf.ones([2, 3]), tf.ones([3, 2])); // computed on the GPU
    expect(() => t.dataSync()).toThrow(/cannot read a tensor synchronously.*await tensor\.data\(\)/);
    expect(Array.from(await t.data())).toEqual([3, 3, 3, 3]);
    expect(Array.from(t.dataSync())).toEqual([3, 3, 3, 3]); // cached on the CPU after data()
  });
});
