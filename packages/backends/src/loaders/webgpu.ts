/**
 * webgpu: `@tensorflow/tfjs-backend-webgpu`. In the browser it uses
 * `navigator.gpu`; in Node it uses Dawn through the `webgpu` package
 * (`create()` gives a `GPU`, `globals` the `GPUBufferUsage`… constants), which
 * we install as `navigator.gpu` before tfjs-backend-webgpu is imported (it
 * registers itself only when `navigator.gpu` exists).
 *
 * Dawn finds GPUs through Vulkan on Linux. A machine without a GPU can use
 * the SwiftShader software driver from Debian's `chromium` package by setting
 * `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json`. We never switch
 * to it on our own: SwiftShader runs matMul about 100× slower than the wasm
 * backend, so a preference list must fall through to wasm instead; the
 * "no adapter" reason says how to opt in.
 */
import * as tf from "@tensorflow/tfjs-core";
import { isNode, type Loader } from "../types.js";

export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

interface Probe {
  reason?: string;
  adapter?: AdapterInfo;
}
let probed: Promise<Probe> | undefined;

function describe(a: AdapterInfo): string {
  const id = [a.vendor, a.architecture].filter(Boolean).join(" ");
  return [a.description || a.device || "unnamed adapter", id && `(${id})`].filter(Boolean).join(" ");
}

/** Why Dawn found no adapter in Node on Linux: the Vulkan loader or a driver is missing. */
export function vulkanHint(env: Record<string, string | undefined>, exists: (file: string) => boolean): string {
  const icdVar = env.VK_ICD_FILENAMES ? "VK_ICD_FILENAMES" : "VK_DRIVER_FILES";
  const icd = env[icdVar];
  const libDirs = [
    ...(env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
  ];
  if (!libDirs.some((d) => exists(`${d}/libvulkan.so.1`))) {
    return "the Vulkan loader libvulkan.so.1 is not installed (Debian: apt-get install libvulkan1)";
  }
  if (icd) {
    const missing = icd.split(":").filter((f) => !exists(f));
    if (missing.length) return `${icdVar} names a missing file: ${missing.join(", ")}`;
    return `Vulkan found no usable device with ${icdVar}=${icd}`;
  }
  return exists(SWIFTSHADER_ICD)
    ? `Vulkan found no usable GPU; for the SwiftShader software adapter set VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`
    : "Vulkan found no usable GPU; for a software adapter install Debian's chromium package and set " +
        `VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`;
}

/** Install Dawn as `navigator.gpu` in Node (once). Resolves to a reason when it cannot. */
async function installDawn(): Promise<string | undefined> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return undefined;
  let dawn: { create(flags: string[]): unknown; globals: Record<string, unknown> };
  try {
    const name = "webgpu"; // a variable keeps browser bundlers from resolving it
    dawn = await import(/* @vite-ignore */ name);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ERR_MODULE_NOT_FOUND" && /'webgpu'/.test(err.message)) {
      return 'webgpu: the "webgpu" package (Dawn for Node) is not installed (npm install webgpu)';
    }
    return `webgpu: the Dawn addon (package "webgpu") cannot be loaded on ${process.platform}-${process.arch} (${err.message})`;
  }
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = dawn.create([]);
  if (g.navigator) Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
  return undefined;
}

/**
 * Whether Dawn finds an adapter, asked in a child process (about 70 ms):
 * when it finds none, Dawn and the Vulkan loader print warnings with paths
 * of the machine Dawn was built on to the process's stderr, which a library
 * cannot silence; in a child they are dropped. Resolves to a reason when
 * there is no adapter, else undefined (then the in-process probe decides).
 */
async function probeDawnQuietly(): Promise<string | undefined> {
  const { createRequire } = await import("node:module");
  let dawn: string;
  try {
    dawn = createRequire(import.meta.url).resolve("webgpu");
  } catch {
    return undefined; // not installed: installDawn says so
  }
  const { spawnSync } = await import("node:child_process");
  const code = `require(${JSON.stringify(dawn)}).create([]).requestAdapter().then((a) => process.stdout.write(a ? "yes" : "no"), () => process.stdout.write("?")).then(() => process.exit(0))`;
  const r = spawnSync(process.execPath, ["-e", code], { encoding: "utf8", timeout: 60_000, env: process.env });
  if (r.stdout !== "no") return undefined;
  const { existsSync } = await import("node:fs");
  const hint = process.platform === "linux" ? vulkanHint(process.env, existsSync) : "the driver offers none";
  return `webgpu: no adapter (${hint})`;
}

async function probeOnce(): Promise<Probe> {
  if (isNode) {
    const quiet = await probeDawnQuietly();
    if (quiet) return { reason: quiet };
    const reason = await installDawn();
    if (reason) return { reason };
  }
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) return { reason: "webgpu: this environment has no WebGPU (navigator.gpu is undefined)" };
  // Registers the backend and its flags; it needs navigator.gpu to be there first.
  await import("@tensorflow/tfjs-backend-webgpu");
  let adapter: GPUAdapter | null;
  try {
    const lowPower = tf.env().getBool("WEBGPU_USE_LOW_POWER_GPU");
    adapter = await gpu.requestAdapter({ powerPreference: lowPower ? "low-power" : "high-performance" });
  } catch (e) {
    return { reason: `webgpu: no adapter (requestAdapter failed: ${(e as Error).message})` };
  }
  if (!adapter) {
    const { existsSync } = isNode ? await import("node:fs") : { existsSync: () => false };
    const hint =
      isNode && process.platform === "linux" ? vulkanHint(process.env, existsSync) : "the browser or driver offers none";
    return { reason: `webgpu: no adapter (${hint})` };
  }
  const i = adapter.info;
  return { adapter: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description } };
}

/**
 * tfjs-webgpu reads a tensor synchronously (dataSync, arraySync, bufferSync)
 * through an OffscreenCanvas, which Node lacks: without this, the error is
 * "OffscreenCanvas is not defined". Values already on the CPU still read.
 */
async function explainReadSync(): Promise<void> {
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  type Backend = { tensorMap: { get(id: object): { values?: unknown; dtype: string } | undefined } };
  const proto = WebGPUBackend.prototype as unknown as { readSync(this: Backend, id: object): unknown; explained?: true };
  if (proto.explained) return;
  const readSync = proto.readSync;
  proto.readSync = function (dataId) {
    const d = this.tensorMap.get(dataId);
    if (d && d.values == null && d.dtype !== "string") {
      throw new Error(
        "webgpu in Node cannot read a tensor synchronously (dataSync/arraySync/bufferSync need OffscreenCanvas): " +
          "use await tensor.data() / array()",
      );
    }
    return readSync.call(this, dataId);
  };
  proto.explained = true;
}

let last: Probe | undefined;
function probe(): Promise<Probe> {
  probed ??= probeOnce().then((p) => {
    last = p;
    return p;
  });
  return probed;
}

export const webgpuLoader: Loader = {
  async probe() {
    return (await probe()).reason;
  },
  note: () => (last?.adapter ? `adapter: ${describe(last.adapter)}` : ""),
  async register() {
    const p = await probe();
    if (p.reason) throw new Error(p.reason);
    if (typeof OffscreenCanvas === "undefined") await explainReadSync();
  },
  info() {
    const adapter = last?.adapter;
    return { device: adapter ? describe(adapter) : "webgpu", adapter, weightPacking: false };
  },
  built: () => false,
};
