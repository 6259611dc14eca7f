/**
 * Finding what scripts/build.mjs built (build/status.json, the addon, the
 * CUDA library) and loading it, with the reason when something is missing.
 * Nothing here throws: every failure becomes a reason.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { cudaDeviceStatus } from "./cuda/index.js";
import { type Addon, describeDevice } from "./device.js";

const BUILD = fileURLToPath(new URL("../build/", import.meta.url));

/** Whether a device is compiled here, and whether it can run (with the reason when not). */
export interface DeviceStatus {
  built: boolean;
  available: boolean;
  /** Why it is not built or not available; what it runs on when it is. */
  reason: string;
}

interface BuildStatus {
  cpu: { built: boolean; reason: string };
  cuda: { built: boolean; reason: string };
}

function buildStatus(): BuildStatus | string {
  const file = `${BUILD}status.json`;
  if (!existsSync(file)) return "not built (build/status.json is missing: run `node scripts/build.mjs` in the package)";
  try {
    return JSON.parse(readFileSync(file, "utf8")) as BuildStatus;
  } catch (e) {
    return `not built (build/status.json is unreadable: ${(e as Error).message})`;
  }
}

let loaded: { addon?: Addon; reason?: string } | undefined;

/** The addon, or why it cannot be loaded. */
export function loadAddon(): { addon?: Addon; reason?: string } {
  loaded ??= tryLoad();
  return loaded;
}

function tryLoad(): { addon?: Addon; reason?: string } {
  const s = buildStatus();
  if (typeof s === "string") return { reason: s };
  if (!s.cpu.built) return { reason: `not built: ${s.cpu.reason}` };
  try {
    return { addon: createRequire(import.meta.url)(`${BUILD}nextscale_native.node`) as Addon };
  } catch (e) {
    return { reason: `the addon cannot be loaded (${(e as Error).message})` };
  }
}

/** The CPU device: built and loadable. */
export function cpuStatus(): DeviceStatus {
  const { addon, reason } = loadAddon();
  const s = buildStatus();
  const built = typeof s !== "string" && s.cpu.built;
  if (!addon) return { built, available: false, reason: reason! };
  const i = addon.info();
  return { built, available: true, reason: describeDevice(i) };
}

/**
 * The CUDA device (src/cuda/): built by nvcc and a device found, or, with
 * NEXTSCALE_CUDA_EMULATE=1, the host emulation (not a GPU) built and loaded.
 */
export function cudaStatus(): DeviceStatus {
  return cudaDeviceStatus();
}
