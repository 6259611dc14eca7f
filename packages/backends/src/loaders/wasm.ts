/**
 * wasm: `@tensorflow/tfjs-backend-wasm` (XNNPACK compiled to WebAssembly).
 *
 * In the browser tfjs picks its build itself: threaded SIMD when the page is
 * cross-origin isolated (SharedArrayBuffer), SIMD otherwise. In Node, tfjs
 * 4.22 never uses threads (`WASM_HAS_MULTITHREAD_SUPPORT` is false under
 * Node, tfjs issue #3830), although Node 20 has all the threaded build needs:
 * SharedArrayBuffer, worker_threads, and an Emscripten build that runs its
 * pthreads on worker_threads. So in Node we instantiate the threaded SIMD
 * build ourselves (`registerNodeThreaded`): the pthread worker, which tfjs
 * only ships as a string for a Blob URL, is written once to a file in the
 * temp folder, and XNNPACK is told the thread count we want (tfjs sizes its
 * pool as logical cores / 2, capped by that, so we report 2 × threads). It
 * roughly doubles matMul/conv throughput on 2 cores (see the README).
 */
import * as tf from "@tensorflow/tfjs-core";
import { registerWasmWeightPacking, wasmWeightPackingStatus } from "../packing/wasm.js";
import { type InitOptions, isNode, type Loader } from "../types.js";

const THREADED = "tfjs-backend-wasm-threaded-simd";
const MAX_THREADS = 8; // tfjs pre-creates 8 pthread workers

interface State {
  simd: boolean;
  threaded: boolean;
  /** Why the threaded Node build was not used (when it was wanted). */
  threadsNote?: string;
}
let state: State | undefined;

async function nodeWasmDir(): Promise<string> {
  const { createRequire } = await import("node:module");
  const { dirname, join } = await import("node:path");
  return join(dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist/");
}

/**
 * Logical CPUs (capped at tfjs's pool of 8) in Node and on a cross-origin
 * isolated page or worker (where tfjs can use its threaded build); 1 elsewhere.
 */
async function defaultThreads(): Promise<number> {
  if (!isNode) {
    const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
    const cores = g.navigator?.hardwareConcurrency;
    return g.crossOriginIsolated && Number.isInteger(cores) && cores! > 1 ? Math.min(MAX_THREADS, cores!) : 1;
  }
  const os = await import("node:os");
  return Math.min(MAX_THREADS, os.availableParallelism?.() ?? os.cpus().length);
}

// biome-ignore lint/suspicious/noExplicitAny: the Emscripten module is untyped
type EmscriptenModule = any;

/** Register "wasm" as the threaded SIMD build with `threads` XNNPACK threads (Node only). */
async function registerNodeThreaded(threads: number): Promise<void> {
  const { createRequire } = await import("node:module");
  const path = await import("node:path");
  const fs = await import("node:fs");
  const os = await import("node:os");
  const { createHash } = await import("node:crypto");
  const req = createRequire(import.meta.url);
  const out = path.join(path.dirname(req.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "wasm-out");
  const mainScript = path.join(out, `${THREADED}.js`);
  const wasmFile = path.join(out, `${THREADED}.wasm`);
  const factory = req(mainScript) as (config: object) => Promise<EmscriptenModule>;
  // tfjs escapes "\n" the same way before making its Blob URL.
  const workerCode = (req(path.join(out, `${THREADED}.worker.js`)) as { wasmWorkerContents: string }).wasmWorkerContents.replace(
    /\n/g,
    "\\n",
  );
  const hash = createHash("sha256").update(workerCode).digest("hex").slice(0, 16);
  const workerFile = path.join(os.tmpdir(), `nextscale-${THREADED}-${hash}.worker.cjs`);
  if (!fs.existsSync(workerFile)) {
    const tmp = `${workerFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, workerCode);
    fs.renameSync(tmp, workerFile); // atomic: parallel test processes may race here
  }

  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  const original = tf.findBackendFactory("wasm");
  tf.removeBackend("wasm");
  tf.registerBackend(
    "wasm",
    async () => {
      try {
        const module: EmscriptenModule = await new Promise((resolve, reject) => {
          factory({
            locateFile: (p: string, prefix: string) =>
              p.endsWith(".worker.js") ? workerFile : p.endsWith(".wasm") ? wasmFile : prefix + p,
            mainScriptUrlOrBlob: mainScript,
            instantiateWasm(
              imports: { env: Record<string, unknown> },
              receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void,
            ) {
              imports.env.emscripten_num_logical_cores = () => 2 * threads;
              WebAssembly.instantiate(fs.readFileSync(wasmFile), imports as WebAssembly.Imports).then(
                (r) => receive(r.instance, r.module),
                reject,
              );
              return {};
            },
            onAbort: (what: unknown) => reject(new Error(String(what))),
          }).then(resolve, reject);
        });
        module.tfjs = {
          init: module.cwrap("init", null, []),
          initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
          getThreadsCount: module.cwrap("get_threads_count", "number", []),
          registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
          disposeData: module.cwrap("dispose_data", null, ["number"]),
          dispose: module.cwrap("dispose", null, []),
        };
        const backend = new wasm.BackendWasm(module);
        // Idle pthread workers must not keep the process alive.
        for (const w of [...module.PThread.runningWorkers, ...module.PThread.unusedWorkers]) w.unref();
        state = { simd: true, threaded: true };
        return backend;
      } catch (e) {
        state = { simd: true, threaded: false, threadsNote: `threaded build failed: ${(e as Error).message}` };
        if (!original) throw e;
        return original();
      }
    },
    2,
  );
}

let registered = false;

/**
 * In the browser tfjs sizes XNNPACK's pool as min(threads asked for,
 * logical cores / 2), reading the cores from `navigator.hardwareConcurrency`
 * while the backend initialises: 1 thread on a 2-core machine whatever was
 * asked. So, as in Node, we report 2 × threads for that moment only
 * (`restoreLogicalCores` in `afterInit` puts the real value back).
 */
let restoreLogicalCores: (() => void) | null = null;
/** @internal exported for its test */
export function reportLogicalCores(n: number): void {
  const nav = (globalThis as { navigator?: object }).navigator;
  if (!nav) return;
  const own = Object.getOwnPropertyDescriptor(nav, "hardwareConcurrency");
  try {
    Object.defineProperty(nav, "hardwareConcurrency", { configurable: true, get: () => n });
  } catch {
    return; // a frozen navigator: tfjs keeps its own pool size
  }
  restoreLogicalCores = () => {
    if (own) Object.defineProperty(nav, "hardwareConcurrency", own);
    else delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
    restoreLogicalCores = null;
  };
}

/**
 * Emscripten's Node glue (tfjs-wasm is built with it) installs process-wide
 * `uncaughtException` and `unhandledRejection` handlers when its module
 * loads: every later uncaught error in the user's program then prints the
 * module's minified source (about 55 KB) and exits with code 7. The
 * handlers found before the wasm module loads are kept; the ones it added
 * are removed in `afterInit`, which restores Node's own error reporting.
 */
const PROCESS_EVENTS = ["uncaughtException", "unhandledRejection"];
type Listener = (...args: unknown[]) => void;
/** The process's listeners of an event, loosely typed (the two events' listener types differ). */
const listenersOf = (e: string) => (process as unknown as { listeners(e: string): Listener[] }).listeners(e);
let listenersBefore: Map<string, Set<Listener>> | null = null;

function snapshotProcessListeners(): void {
  if (!isNode || listenersBefore) return;
  listenersBefore = new Map(PROCESS_EVENTS.map((e) => [e, new Set(listenersOf(e))]));
}

function restoreProcessListeners(): void {
  if (!isNode || !listenersBefore) return;
  for (const e of PROCESS_EVENTS) {
    for (const l of listenersOf(e)) if (!listenersBefore.get(e)!.has(l)) process.removeListener(e, l);
  }
}

export const wasmLoader: Loader = {
  async probe() {
    if (typeof WebAssembly !== "object") return "wasm: WebAssembly is not available in this environment";
    try {
      await import("@tensorflow/tfjs-backend-wasm");
    } catch (e) {
      return `wasm: @tensorflow/tfjs-backend-wasm cannot be loaded (${(e as Error).message})`;
    }
    if (isNode) {
      const { existsSync } = await import("node:fs");
      const dir = await nodeWasmDir();
      if (!existsSync(`${dir}tfjs-backend-wasm.wasm`)) return `wasm: the .wasm files are not found in ${dir}`;
    }
    return undefined;
  },
  note: () => (isNode ? "XNNPACK, threaded SIMD build on worker_threads" : "XNNPACK (threads when cross-origin isolated)"),
  async register(opts: InitOptions) {
    const threads = opts.threads ?? (await defaultThreads());
    if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`threads must be a positive integer (got ${threads})`);
    if (registered) return; // the first initialisation fixes the build and the thread count
    registered = true;
    snapshotProcessListeners();
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    wasm.setThreadsCount(threads);
    const dir = opts.wasmPaths ?? (isNode ? await nodeWasmDir() : undefined);
    if (dir) wasm.setWasmPaths(dir);
    const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
    const multi = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT");
    state = { simd: !!simd, threaded: !!simd && !!multi };
    if (isNode && threads > 1 && simd && typeof SharedArrayBuffer === "function") {
      await registerNodeThreaded(Math.min(threads, MAX_THREADS));
    } else if (isNode && threads > 1) {
      state.threadsNote = "threads need WebAssembly SIMD and SharedArrayBuffer";
    } else if (!isNode && threads > 1 && state.threaded) {
      reportLogicalCores(2 * Math.min(threads, MAX_THREADS));
    }
  },
  afterInit() {
    restoreLogicalCores?.();
    restoreProcessListeners();
    registerWasmWeightPacking();
  },
  abortInit() {
    restoreLogicalCores?.();
    restoreProcessListeners();
  },
  info() {
    const threads = tf.getBackend() === "wasm" ? getThreads() : 1;
    const s = state ?? { simd: false, threaded: false };
    const device = `wasm${s.simd ? " SIMD" : ""}, ${threads} thread${threads === 1 ? "" : "s"}${s.threadsNote ? ` (${s.threadsNote})` : ""}`;
    const packing = wasmWeightPackingStatus();
    return { device, threads, simd: s.simd, weightPacking: !!packing?.ok, ...(packing?.reason ? { weightPackingNote: packing.reason } : {}) };
  },
  built: () => false,
};

function getThreads(): number {
  // getThreadsCount lives in the same module instance that created the backend.
  const backend = tf.backend() as unknown as { wasm?: { tfjs?: { getThreadsCount(): number } } };
  return backend.wasm?.tfjs?.getThreadsCount() ?? 1;
}
