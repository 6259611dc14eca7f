/**
 * The tfjs backend "native": tfjs-backend-cpu's `MathBackendCPU` for its
 * tensor storage (host TypedArrays, reference counts, `read`/`readSync`,
 * `memory()`, `numDataIds`, which tfjs's leak checks rely on), with kernels
 * run by the CPU device (the addon, device.ts) where it has them and by
 * tfjs-backend-cpu's JavaScript kernels everywhere else.
 *
 * Every kernel registered for "cpu" is registered for "native" too, wrapped:
 * the device's kernel runs first when there is one; when it declines a case
 * or has none, the cpu kernel runs and its name is recorded
 * (`fallbackKernels()`), with a one-time notice per kernel when
 * NEXTSCALE_NATIVE_NOTICES=1.
 */
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import type { Device } from "./device.js";
import { conv2D, conv2DBackpropFilter, conv2DBackpropInput, fusedConv2D } from "./kernels/conv2d.js";
import { BINARY_KERNELS, UNARY_KERNELS } from "./kernels/elementwise.js";
import { FUSED_NATIVE } from "./kernels/fused.js";
import { LAYOUT_KERNELS } from "./kernels/layout.js";
import { batchMatMul, fusedMatMul } from "./kernels/mat-mul.js";
import { REDUCE_KERNELS, softmax } from "./kernels/reduce.js";
import { unsortedSegmentSum } from "./kernels/segment.js";
import { TRAINING_NATIVE } from "./kernels/train.js";
import { BufferPool } from "./pool.js";
import type { NativeArgs, NativeKernel } from "./kernels/util.js";

export const BACKEND_NAME = "native";

/** Every kernel the CPU device runs, by tfjs kernel name. */
export const NATIVE_KERNELS: readonly NativeKernel[] = [
  batchMatMul,
  fusedMatMul,
  conv2D,
  fusedConv2D,
  conv2DBackpropFilter,
  conv2DBackpropInput,
  ...BINARY_KERNELS,
  ...UNARY_KERNELS,
  softmax,
  ...REDUCE_KERNELS,
  ...FUSED_NATIVE,
  ...LAYOUT_KERNELS,
  unsortedSegmentSum,
  ...TRAINING_NATIVE,
];

export class NativeBackend extends MathBackendCPU {
  /** The outputs' caching allocator (pool.ts). */
  readonly pool = new BufferPool();
  constructor() {
    super();
    // tfjs-backend-cpu greets its first tensor in Node with a banner recommending tfjs-node: not this backend's advice
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }
  // every tensor's values pass through write or move, leave through readSync (read calls it), end in disposeData
  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    this.pool.registered(values);
    return super.write(values, shape, dtype);
  }
  override move(dataId: tf.DataId, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    this.pool.registered(values);
    super.move(dataId, values, shape, dtype, refCount);
  }
  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const d = this.data.get(dataId);
    if (d) this.pool.escapedNow(d.values);
    return super.readSync(dataId);
  }
  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const freed = super.disposeData(dataId, force);
    if (freed && values && !this.data.has(dataId)) this.pool.released(values);
    return freed;
  }
  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }
}

const fallbacks = new Map<string, number>();
/** Kernels that ran tfjs-backend-cpu's JavaScript on this backend so far, with their call counts. */
export function fallbackKernels(): Record<string, number> {
  return Object.fromEntries([...fallbacks].sort((a, b) => b[1] - a[1]));
}

function noteFallback(name: string): void {
  const n = fallbacks.get(name) ?? 0;
  fallbacks.set(name, n + 1);
  if (n === 0 && process.env.NEXTSCALE_NATIVE_NOTICES === "1") {
    console.warn(`native: kernel "${name}" has no native version for this case; it runs tfjs-backend-cpu's JavaScript kernel`);
  }
}

const times = new Map<string, { ms: number; calls: number }>();
let profileReport = false;
/**
 * NEXTSCALE_NATIVE_PROFILE=1: time every kernel (native or fallback) and print the totals at exit;
 * NEXTSCALE_NATIVE_PROFILE=shapes: the same per kernel and input shapes.
 */
const profiling = (): boolean => process.env.NEXTSCALE_NATIVE_PROFILE === "1" || process.env.NEXTSCALE_NATIVE_PROFILE === "shapes";
function timed(kernel: string, f: tf.KernelFunc): tf.KernelFunc {
  const byShape = process.env.NEXTSCALE_NATIVE_PROFILE === "shapes";
  if (!profileReport) {
    profileReport = true;
    process.on("exit", () => {
      const rows = [...times].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
      console.error(rows.map(([k, v]) => `native profile: ${k} ${v.ms.toFixed(0)} ms, ${v.calls} calls`).join("\n"));
    });
  }
  return (args) => {
    const t0 = performance.now();
    const out = f(args);
    const name = byShape ? `${kernel} ${Object.values(args.inputs).map((t) => `[${(t as tf.TensorInfo).shape}]`).join(" ")}` : kernel;
    const e = times.get(name) ?? { ms: 0, calls: 0 };
    times.set(name, e);
    e.ms += performance.now() - t0;
    e.calls++;
    return out;
  };
}

let registered = false;

/**
 * Register the backend "native" on `device` (once), with every kernel of
 * "cpu" (tfjs-backend-cpu must be imported first; this module imports it).
 */
export function registerNative(device: Device): void {
  if (registered) return;
  registered = true;
  tf.registerBackend(BACKEND_NAME, () => new NativeBackend(), 0);
  // NEXTSCALE_NATIVE_DISABLE=Kernel,Kernel: run those on tfjs-backend-cpu's kernels (to compare or bisect)
  const disabled = new Set((process.env.NEXTSCALE_NATIVE_DISABLE ?? "").split(",").map((s) => s.trim()));
  const own = new Map(NATIVE_KERNELS.filter((k) => !disabled.has(k.kernelName)).map((k) => [k.kernelName, k]));
  const cpu = new Map(tf.getKernelsForBackend("cpu").map((c) => [c.kernelName, c]));
  for (const [name, config] of cpu) {
    const mine = own.get(name);
    const fallback = config.kernelFunc;
    let kernelFunc: tf.KernelFunc = (args) => {
      const out = mine?.run(args as unknown as NativeArgs, device);
      if (out) return out;
      noteFallback(name);
      return fallback(args);
    };
    if (profiling()) kernelFunc = timed(name, kernelFunc);
    tf.registerKernel({ ...config, backendName: BACKEND_NAME, kernelFunc });
  }
  // kernels the device has and tfjs-backend-cpu does not (the fused kernels of @nextscale/contract)
  for (const k of NATIVE_KERNELS) {
    if (cpu.has(k.kernelName)) continue;
    let kernelFunc: tf.KernelFunc = (args) => {
      const out = k.run(args as unknown as NativeArgs, device);
      if (!out) throw new Error(`native: kernel "${k.kernelName}" declined its inputs and has no fallback kernel`);
      return out;
    };
    if (profiling()) kernelFunc = timed(k.kernelName, kernelFunc);
    tf.registerKernel({ kernelName: k.kernelName, backendName: BACKEND_NAME, kernelFunc });
  }
}
