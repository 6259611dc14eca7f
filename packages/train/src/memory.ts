/**
 * Peak memory of a training step: the most bytes tfjs held in tensors at any
 * moment (the gradient tape's saved activations, the gradients, the
 * optimizer's moments, the weights), and the process's resident set.
 *
 * tfjs counts the bytes of live tensors in its engine's `state.numBytes`
 * (every backend, on allocation and disposal); `PeakMemory` watches that
 * counter through an accessor, so the maximum is exact and costs one
 * comparison per allocation. On wasm the heap only grows, so the process's
 * RSS (`process.resourceUsage().maxRSS`) is the high-water mark of the
 * whole run, not of one step.
 */
import * as tf from "@tensorflow/tfjs-core";

interface EngineState {
  numBytes: number;
}

let watched: { state: EngineState; peak: number } | undefined;

/** Install the watch on the current engine state (once; again after `tf.engine().reset()`). */
function watch(): { state: EngineState; peak: number } {
  const state = (tf.engine() as unknown as { state: EngineState }).state;
  if (watched?.state === state) return watched;
  let bytes = state.numBytes;
  const w = { state, peak: bytes };
  Object.defineProperty(state, "numBytes", {
    configurable: true,
    enumerable: true,
    get: () => bytes,
    set: (v: number) => {
      bytes = v;
      if (v > w.peak) w.peak = v;
    },
  });
  watched = w;
  return w;
}

export class PeakMemory {
  /** Start a window: the peak is measured from now. */
  start(): void {
    const w = watch();
    w.peak = w.state.numBytes;
  }
  /** The most tensor bytes held since `start()`. */
  get peakBytes(): number {
    return watch().peak;
  }
}

/** The process's peak resident set so far, in bytes (Node; 0 elsewhere). */
export function peakRssBytes(): number {
  const p = (globalThis as { process?: { resourceUsage?: () => { maxRSS: number } } }).process;
  return p?.resourceUsage ? p.resourceUsage().maxRSS * 1024 : 0;
}

/** One turn of the event loop (timers, I/O, signal handlers run), not only the microtask queue. */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  return new Promise((resolve) => (g.setImmediate ? g.setImmediate(resolve) : setTimeout(resolve, 0)));
}
