/**
 * Loads one file for the fuzz test, in its own `worker_threads` Worker:
 * `openCheckpoint`, `read` of every tensor, then `nextscale info`
 * (`inspectCheckpoint` and `JSON.stringify` of the summary), and reports
 * what happened. It watches itself: memory (`heapUsed + arrayBuffers`
 * of this thread) is sampled every 2 ms and after every step, bytes read
 * from the file are counted, and either going over its limit ends the
 * thread at once. The parent adds what a thread cannot see for itself:
 * a wall-clock timeout (a synchronous loop) and the process's RSS.
 *
 * `fuzz.test.ts` bundles this file (with the loaders it imports) into
 * one ES module, so that a Worker can start on it outside vitest.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { inspectCheckpoint } from "../../info.js";
import { openCheckpoint } from "../checkpoint.js";
import { openSource, type SourceInput } from "../open.js";
import { type ByteSource, CheckpointFormatError } from "../source.js";
import { bytesOf, tensorDigest } from "./generate.testutil.js";

export interface WorkerInput {
  nextscaleFuzz: true;
  path: string;
  /** Growth of heapUsed + arrayBuffers allowed, in bytes. */
  memLimit: number;
  /** Bytes the loaders may read from the file. */
  readLimit: number;
  /** Float64 slots the parent can read even after terminating the thread: see `Slot`. */
  stats: SharedArrayBuffer;
}

/** Indices into the shared stats array. */
export const Slot = { peak: 0, bytesRead: 1, phase: 2, tensor: 3 } as const;
export const PHASES = ["start", "open", "read", "info", "done"] as const;

export interface LoadedTensor {
  name: string;
  dtype: string;
  shape: number[];
  digest: string;
}
export type LoadResult =
  | { kind: "loaded"; format: string; tensors: LoadedTensor[]; summary: { tensors: number; keys: string[]; json: number }; problems: string[] }
  | { kind: "error"; name: string; cfe: boolean; message: string; stack?: string };

export type WorkerMessage =
  | { type: "result"; result: LoadResult; ms: number }
  | { type: "memory"; growth: number; phase: string }
  | { type: "read-amplification"; bytesRead: number; phase: string }
  | { type: "unhandled"; message: string };

/**
 * Open and fully load `input` as the fuzz test does: every tensor read and
 * digested, then the summary of `nextscale info`. Never throws: an error
 * is a result.
 */
export async function loadAll(input: SourceInput, onPhase: (phase: (typeof PHASES)[number], tensor?: number) => void = () => {}): Promise<LoadResult> {
  try {
    onPhase("open");
    const store = await openCheckpoint(input);
    try {
      const keys = store.keys();
      const tensors: LoadedTensor[] = [];
      const problems: string[] = [];
      for (let i = 0; i < keys.length; i++) {
        onPhase("read", i);
        const k = keys[i];
        const info = store.info(k);
        const t = await store.read(k);
        if (info.dtype !== t.dtype || info.shape.join() !== t.shape.join()) {
          problems.push(`${k.slice(0, 80)}: info says ${info.dtype}[${info.shape}], read gave ${t.dtype}[${t.shape}]`);
        }
        tensors.push({ name: k, dtype: t.dtype, shape: t.shape, digest: tensorDigest(t.dtype, t.shape, bytesOf(t.data)) });
      }
      onPhase("info");
      const summary = inspectCheckpoint(store);
      const json = JSON.stringify(summary);
      return { kind: "loaded", format: store.format, tensors, summary: { tensors: summary.tensors, keys: Object.keys(summary.keys), json: json.length }, problems };
    } finally {
      await store.close();
    }
  } catch (e) {
    const err = e as Error;
    return {
      kind: "error",
      name: String(err?.name ?? typeof e),
      cfe: e instanceof CheckpointFormatError,
      message: String(err?.message ?? e).slice(0, 100_000),
      stack: e instanceof CheckpointFormatError ? undefined : String(err?.stack ?? "").slice(0, 2000),
    };
  }
}

async function main(input: WorkerInput): Promise<void> {
  const port = parentPort!;
  const stats = new Float64Array(input.stats);
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  let phase = "start";
  const base = used();
  const sample = () => {
    const growth = used() - base;
    if (growth > stats[Slot.peak]) stats[Slot.peak] = growth;
    if (growth > input.memLimit) {
      port.postMessage({ type: "memory", growth, phase } satisfies WorkerMessage);
      process.exit(77);
    }
  };
  const timer = setInterval(sample, 2);
  process.on("unhandledRejection", (e) => {
    port.postMessage({ type: "unhandled", message: String((e as Error)?.stack ?? e).slice(0, 2000) } satisfies WorkerMessage);
    process.exit(79);
  });
  const inner = await openSource(input.path);
  let bytesRead = 0;
  const source: ByteSource = {
    name: inner.name,
    size: inner.size,
    async read(offset, length) {
      if (Number.isFinite(length) && length > 0) bytesRead += length;
      stats[Slot.bytesRead] = bytesRead;
      if (bytesRead > input.readLimit) {
        port.postMessage({ type: "read-amplification", bytesRead, phase } satisfies WorkerMessage);
        process.exit(78);
      }
      const out = await inner.read(offset, length);
      sample();
      return out;
    },
    close: () => inner.close(),
  };
  const t0 = performance.now();
  const result = await loadAll(source, (p, tensor) => {
    sample();
    phase = tensor === undefined ? p : `${p} of tensor ${tensor}`;
    stats[Slot.phase] = PHASES.indexOf(p);
    if (tensor !== undefined) stats[Slot.tensor] = tensor;
  });
  const ms = performance.now() - t0;
  sample();
  stats[Slot.phase] = PHASES.indexOf("done");
  // let a rejection nobody awaited surface before reporting
  await new Promise((r) => setTimeout(r, 0));
  clearInterval(timer);
  port.postMessage({ type: "result", result, ms } satisfies WorkerMessage);
}

if (!isMainThread && (workerData as WorkerInput | undefined)?.nextscaleFuzz) void main(workerData as WorkerInput);
