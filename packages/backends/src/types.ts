/**
 * The contract every backend loader fulfils: a cheap availability probe that
 * names the cause when it fails, a registration step, and a description of
 * what the initialised backend runs on.
 */

export type BackendName = "webgpu" | "wasm" | "cpu" | "cuda" | "native";

/** Preference order when none is given: fastest first. */
export const ALL_BACKENDS: readonly BackendName[] = ["cuda", "webgpu", "native", "wasm", "cpu"];

export interface BackendStatus {
  name: BackendName;
  available: boolean;
  /** Why it is unavailable, or what it would run on when available. */
  reason: string;
  /** Whether a native addon is compiled (only meaningful for native and cuda). */
  built: boolean;
}

/** What the active backend runs on (see `backendInfo`). */
export interface BackendInfo {
  name: string;
  /** One line for people: "SwiftShader driver 5.0.0 (google swiftshader)", "wasm SIMD, 2 threads". */
  device: string;
  /** wasm: threads XNNPACK uses (1 = the single-threaded build). */
  threads?: number;
  /** wasm: whether the SIMD build is loaded. */
  simd?: boolean;
  /** webgpu: the adapter as reported by `GPUAdapter.info`. */
  adapter?: { vendor: string; architecture: string; device: string; description: string };
  /** Named fused kernels with a fast version registered on this backend. */
  fusedKernels: string[];
  /**
   * Whether `packForInference` (core) frees unpacked weights here (wasm,
   * after its start-up self-test); `weightPackingNote` says why not when a
   * backend that normally can does not.
   */
  weightPacking: boolean;
  weightPackingNote?: string;
  /** native: kernels that ran tfjs-backend-cpu's JavaScript so far (the device has no version for them or their case). */
  fallbackKernels?: string[];
}

export interface InitOptions {
  /** wasm in the browser: where the .wasm files are served from. */
  wasmPaths?: string;
  /**
   * wasm: threads for XNNPACK (matMul, conv). Default: the number of
   * logical CPUs, at most 8, in Node and on a cross-origin isolated page
   * (elsewhere 1); in Node 1 loads the single-threaded SIMD build.
   */
  threads?: number;
}

export class BackendUnavailableError extends Error {
  override name = "BackendUnavailableError";
}

/**
 * A backend is a loader (here) plus its kernel files (kernels/<backend>/,
 * listed in kernels/register-all.ts); `initBackend` does the rest the same
 * way for every backend.
 */
export interface Loader {
  /** Resolve to undefined when usable, or to the reason it is not. */
  probe(): Promise<string | undefined>;
  /** A note on what it would run on, when the probe succeeded. */
  note(): string;
  /** Register the tfjs backend factory (idempotent). */
  register(opts: InitOptions): Promise<void>;
  /**
   * After `tf.setBackend` and the fused kernels' registration: set up what
   * the backend offers beyond kernels (wasm: weight packing, after its
   * self-test). Optional.
   */
  afterInit?(): void;
  /**
   * When `register` or `tf.setBackend` failed: undo what `register` changed
   * outside the backend (wasm: the reported logical cores, the process
   * listeners), so that the next backend in the preference list starts from
   * the program's own state. Optional.
   */
  abortInit?(): void;
  /** After initialisation: what it runs on, and whether it packs weights. */
  info(): Omit<BackendInfo, "name" | "fusedKernels">;
  built(): boolean;
}

export const isNode = typeof process !== "undefined" && !!process.versions?.node;
