/**
 * BatchMatMul and _FusedMatMul: OpenBLAS sgemm, one call for a product or a
 * batch sharing its right operand, one per batch entry otherwise (small ones
 * split over the thread pool). Bias and activation of the fused product are
 * applied in place on the result. Batches broadcast only as all-equal or 1.
 */
import * as tf from "@tensorflow/tfjs-core";
import { ACTIVATIONS } from "../device.js";
import { f32s, type NativeArgs, type NativeKernel, output } from "./util.js";
import type { Device } from "../device.js";

function product(args: NativeArgs, device: Device): { info: tf.TensorInfo; values: Float32Array; N: number } | null {
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = (args.attrs ?? {}) as { transposeA: boolean; transposeB: boolean };
  const v = f32s(args.backend, a, b);
  if (!v || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== (transposeB ? b.shape[rb - 1] : b.shape[rb - 2])) return null; // tfjs's kernel names the mismatch
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  let outer: number[];
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batch = tf.util.sizeFromShape(outer);
  if (!((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1))) return null;
  // equal sizes must also be equal shapes (a (2, 3) batch against a (3, 2) one broadcasts differently)
  if (batchA === batch && batchB === batch && batch > 1 && outerA.join() !== outerB.join()) return null;
  const out = output(args.backend, [...outer, M, N], K === 0); // K = 0: a product of zeros, not left to the BLAS
  if (out.values.length) device.matmul(v[0], v[1], out.values, batchA, batchB, M, N, K, !!transposeA, !!transposeB);
  return { ...out, N };
}

export const batchMatMul: NativeKernel = {
  kernelName: "BatchMatMul",
  run: (args, device) => product(args, device)?.info ?? null,
};

export const fusedMatMul: NativeKernel = {
  kernelName: "_FusedMatMul",
  run(args, device) {
    const { bias, preluActivationWeights } = args.inputs;
    const { activation, leakyreluAlpha } = (args.attrs ?? {}) as { activation?: string; leakyreluAlpha?: number };
    const act = ACTIVATIONS[(activation ?? "linear") as keyof typeof ACTIVATIONS];
    if (act === undefined || preluActivationWeights) return null;
    const bv = bias ? f32s(args.backend, bias)?.[0] : null;
    if (bias && !bv) return null;
    // a bias of N values along the last axis, or one value
    const perColumn = !!bias && bias.shape.length > 0 && bv!.length !== 1;
    if (bias && perColumn && !(bias.shape[bias.shape.length - 1] === bv!.length)) return null;
    const r = product(args, device);
    if (!r) return null;
    if (perColumn && bv!.length !== r.N) {
      args.backend.disposeIntermediateTensorInfo(r.info);
      return null;
    }
    device.biasAct(r.values, bv ?? null, r.values.length / Math.max(1, r.N), r.N, perColumn, act, leakyreluAlpha ?? 0.2);
    return r.info;
  },
};
