/**
 * BatchMatMul on wasm, an override of tfjs-wasm's own kernel for the
 * products of training. tfjs-wasm sends a product to XNNPACK only when it
 * is one untransposed matrix product (batch 1 on both sides); anything
 * else (a transposed operand: every backward product; a batch: attention)
 * runs its scalar loop (measured ≈ 0.7 GFLOP/s, see tools/bench/
 * backward-products.mjs and the README's "Training speed"). This kernel
 * turns those cases into XNNPACK products:
 *
 * - a transposed operand is transposed explicitly with tfjs-wasm's
 *   Transpose kernel first; for C = Aᵀ·B it transposes whichever is
 *   cheaper, A, or B and the result (Cᵀ = Bᵀ·A);
 * - B with a batch of 1 (weights broadcast over a batch) folds A's batch
 *   into its rows: one product;
 * - batched products run one XNNPACK product per batch entry, on copies
 *   of the entry's operands, when an entry has at least `PER_BATCH_MIN_MACS`
 *   multiply-adds (below, per-product set-up costs more than it saves);
 * - single or folded products below `TRANSPOSE_MIN_MACS` stay in
 *   tfjs-wasm's loop, which is as fast there.
 *
 * Everything else (one untransposed product, tiny products, broadcasting
 * other than a batch of 1) goes to tfjs-wasm's kernel unchanged, so
 * inference products (untransposed, batch 1) run exactly as before.
 * The results are XNNPACK's sums, not the scalar loop's: they differ in
 * rounding only (batch-mat-mul.test.ts prints the largest difference).
 */
import * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, runWasmKernel, type WasmBackend } from "./backend-wasm.js";

/** Multiply-adds per batch entry from which per-entry XNNPACK products are used (measured: 10× slower at 57K). */
export const PER_BATCH_MIN_MACS = 1 << 20;
/**
 * Multiply-adds of a single (or folded) product from which it goes to XNNPACK:
 * below, tfjs-wasm's loop is as fast (an XNNPACK call costs ~0.5 ms here;
 * measured: even at 1M, 2.4× faster at 2M, 9× at 16M).
 */
export const TRANSPOSE_MIN_MACS = 3 << 19;

interface Attrs {
  transposeA: boolean;
  transposeB: boolean;
}

let original: tf.KernelConfig | undefined;

const view = (t: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });

function orig(be: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.TensorInfo {
  return original!.kernelFunc({
    inputs: { a, b },
    backend: be as unknown as tf.KernelBackend,
    attrs: { transposeA, transposeB },
  }) as tf.TensorInfo;
}

/** (batch, r, c) → (batch, c, r) with tfjs-wasm's Transpose kernel. */
function transposed(be: WasmBackend, t: tf.TensorInfo, batch: number, r: number, c: number): tf.TensorInfo {
  return runWasmKernel("Transpose", be, { x: view(t, [batch, r, c]) }, { perm: [0, 2, 1] });
}

function batchMatMul(args: KernelArgs<{ a: tf.TensorInfo; b: tf.TensorInfo }, Attrs>): tf.TensorInfo {
  const be = args.backend as WasmBackend;
  const { a, b } = args.inputs;
  const { transposeA: tA, transposeB: tB } = args.attrs!;
  const fallback = () => original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  if (!enabled) return fallback();
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) return fallback();
  const ra = a.shape.length;
  const rb = b.shape.length;
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (!tA && !tB && batchA === 1 && batchB === 1) return fallback();
  const M = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const N = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== (tB ? b.shape[rb - 1] : b.shape[rb - 2])) return fallback(); // tfjs-wasm's kernel names the mismatch
  if (batchA !== batchB && batchB !== 1 && batchA !== 1) return fallback();
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const outShape = [...outer, M, N];
  const batch = Math.max(batchA, batchB);
  const macs = M * K * N;
  const single = batchB === 1 && !(tA && batchA > 1); // one product, A's batch folded into its rows
  if (single && batchA * macs < TRANSPOSE_MIN_MACS) return fallback();
  if (!single && macs < PER_BATCH_MIN_MACS) return fallback();

  const temps: tf.TensorInfo[] = [];
  const keep = (t: tf.TensorInfo) => {
    temps.push(t);
    return t;
  };
  try {
    // one product: C = op(A)·op(B), A's batch folded into its rows when B is shared
    if (single) {
      const rows = batchA * M;
      if (tA && !tB && K * N + M * N < K * M) {
        // Cᵀ = Bᵀ·A: transpose B (K, N) and the result (N, M) instead of A (K, M)
        const bt = keep(transposed(be, b, 1, K, N)); // (1, N, K)
        const ct = keep(orig(be, bt, view(a, [1, K, M]), false, false)); // (1, N, M)
        const c = transposed(be, ct, 1, N, M);
        return view(c, outShape);
      }
      const a2 = tA ? keep(transposed(be, a, 1, K, M)) : a; // (1, M, K)
      const b2 = tB ? keep(transposed(be, b, 1, N, K)) : b; // (1, K, N)
      const c = orig(be, view(a2, [1, rows, K]), view(b2, [1, K, N]), false, false);
      return view(c, outShape);
    }
    // one XNNPACK product per batch entry
    const a3 = tA ? keep(transposed(be, a, batchA, K, M)) : view(a, [batchA, M, K]);
    const b3 = tB ? keep(transposed(be, b, batchB, N, K)) : view(b, [batchB, K, N]);
    const out = be.makeOutput(outShape, "float32");
    const ai = keep(be.makeOutput([1, M, K], "float32"));
    for (let i = 0; i < batch; i++) {
      const ia = batchA === 1 ? 0 : i;
      // a fresh B per entry: tfjs-wasm caches XNNPACK's packed weights by B's tensor id
      const bi = batchB === 1 ? view(b3, [1, K, N]) : be.makeOutput([1, K, N], "float32");
      be.typedArrayFromHeap(ai).set(be.typedArrayFromHeap(a3).subarray(ia * M * K, (ia + 1) * M * K));
      if (batchB !== 1) be.typedArrayFromHeap(bi).set(be.typedArrayFromHeap(b3).subarray(i * K * N, (i + 1) * K * N));
      const c = orig(be, ai, bi, false, false);
      be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(c), i * M * N);
      be.disposeData(c.dataId);
      if (batchB !== 1) be.disposeData(bi.dataId);
    }
    return out;
  } finally {
    for (const t of temps) be.disposeData(t.dataId);
  }
}

/** The override; `install` keeps tfjs-wasm's kernel as its fallback. */
export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: "BatchMatMul",
  backendName: "wasm",
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};

let installed = false;
let enabled = true;

/**
 * Replace tfjs-wasm's BatchMatMul with this kernel (once: kernels registered
 * later, such as weight packing's guard, wrap it); tfjs-wasm's kernel stays
 * its fallback.
 */
export function installBatchMatMul(): void {
  if (installed) return;
  const current = tf.getKernel("BatchMatMul", "wasm");
  if (!current) return;
  installed = true;
  original = current;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel(batchMatMulConfig);
}

/** Off: every call goes to tfjs-wasm's kernel (benchmarks and tests compare the two). */
export function enableBatchMatMul(on: boolean): void {
  enabled = on;
}
