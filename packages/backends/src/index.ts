/**
 * @nextscale/backends: one interface to choose where the numbers are
 * computed. Model code never imports a backend; a deployment calls
 * `initBackend` once (by name or by preference order) and everything runs on
 * the active tfjs backend.
 */
import * as tf from "@tensorflow/tfjs-core";

export type BackendName = "webgpu" | "wasm" | "cpu" | "cuda";

export const ALL_BACKENDS: readonly BackendName[] = ["cuda", "webgpu", "wasm", "cpu"];

export interface BackendStatus {
  name: BackendName;
  available: boolean;
  /** Why it is unavailable (or a note on what it runs on). */
  reason: string;
  /** Whether a native part is compiled (only meaningful for cuda). */
  built: boolean;
}

export class BackendUnavailableError extends Error {
  override name = "BackendUnavailableError";
}

const isNode = typeof process !== "undefined" && !!process.versions?.node;

interface Loader {
  /** Resolve to undefined when usable, or to the reason it is not. */
  probe(): Promise<string | undefined>;
  /** Register the tfjs backend (idempotent). */
  register(): Promise<void>;
  built(): boolean;
}

async function wasmPaths(): Promise<string | undefined> {
  if (!isNode) return undefined;
  const { createRequire } = await import("node:module");
  const { dirname } = await import("node:path");
  const req = createRequire(import.meta.url);
  try {
    return `${dirname(req.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"))}/`;
  } catch {
    return `${dirname(req.resolve("@tensorflow/tfjs-backend-wasm"))}/`;
  }
}

const loaders: Record<BackendName, Loader> = {
  cpu: {
    async probe() {
      return undefined;
    },
    async register() {
      await import("@tensorflow/tfjs-backend-cpu");
    },
    built: () => false,
  },
  wasm: {
    async probe() {
      if (typeof WebAssembly !== "object") return "wasm: WebAssembly is not available in this environment";
      try {
        await import("@tensorflow/tfjs-backend-wasm");
      } catch (e) {
        return `wasm: @tensorflow/tfjs-backend-wasm cannot be loaded (${(e as Error).message})`;
      }
      return undefined;
    },
    async register() {
      const wasm = await import("@tensorflow/tfjs-backend-wasm");
      const dir = await wasmPaths();
      if (dir) wasm.setWasmPaths(dir);
    },
    built: () => false,
  },
  webgpu: {
    async probe() {
      return "webgpu: not available yet in this version of @nextscale/backends";
    },
    async register() {},
    built: () => false,
  },
  cuda: {
    async probe() {
      return "cuda: no native addon built (the CUDA backend is not part of this version)";
    },
    async register() {},
    built: () => false,
  },
};

/** Every backend with whether it can run here and, if not, why. */
export async function listBackends(): Promise<BackendStatus[]> {
  const out: BackendStatus[] = [];
  for (const name of ALL_BACKENDS) {
    const reason = await loaders[name].probe();
    out.push({ name, available: !reason, reason: reason ?? "ok", built: loaders[name].built() });
  }
  return out;
}

export interface InitOptions {
  /** Only for wasm: where the .wasm files are served from (browser). */
  wasmPaths?: string;
}

/**
 * Initialise a backend by name, or the first available in a preference
 * order (default: cuda, webgpu, wasm, cpu). Resolves to the name chosen;
 * a named backend that cannot run is an error that says why.
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
    await loader.register();
    if (name === "wasm" && opts.wasmPaths) (await import("@tensorflow/tfjs-backend-wasm")).setWasmPaths(opts.wasmPaths);
    try {
      const ok = await tf.setBackend(name);
      if (!ok) throw new Error("tf.setBackend returned false");
      await tf.ready();
    } catch (e) {
      reasons.push(`${name}: initialisation failed (${(e as Error).message})`);
      continue;
    }
    return name as BackendName;
  }
  throw new BackendUnavailableError(`no usable backend among [${names.join(", ")}]:\n  ${reasons.join("\n  ")}`);
}

/** What the active backend is running on. */
export function backendInfo(): { name: string; threads?: number } {
  const name = tf.getBackend();
  const info: { name: string; threads?: number } = { name };
  return info;
}

/** Parse `NEXTSCALE_BACKEND` (a name or a comma-separated preference list). */
export function backendFromEnv(value: string | undefined, fallback: readonly BackendName[]): readonly BackendName[] {
  if (!value) return fallback;
  return value.split(",").map((s) => s.trim()) as BackendName[];
}
