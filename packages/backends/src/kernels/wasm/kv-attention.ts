/**
 * KVAttention on wasm: softmax(scale·q·kᵀ)·v. tfjs-wasm sends a matMul to
 * XNNPACK only when it is one untransposed matrix product; the fallback's
 * batched, transposed products take its scalar loop (about 2 GFLOP/s).
 * From 64K multiply-adds per head (d16: from the 5×5 scale on; measured
 * with bench/fused-kernels.mjs, see the README) this kernel runs two
 * XNNPACK products per (image, head) on a transposed copy of its keys;
 * below, per-head setup costs more than it saves and it runs the fallback's
 * own kernels (batched matMul, softmax).
 * The op and its fallback are `kvAttention` in @nextscale/core
 * (core/src/kernels/kv-attention.ts).
 */
import { KVAttention, type KVAttentionAttrs, type KVAttentionInputs } from "@nextscale/contract";
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, runWasmKernel, type WasmBackend } from "./backend-wasm.js";

/** Multiply-adds per head (Lq·Lk·c) from which per-head XNNPACK products are faster (measured). */
export const PER_HEAD_MIN_MACS = 1 << 16;

function kvAttention({ inputs, backend, attrs }: KernelArgs<KVAttentionInputs, KVAttentionAttrs>) {
  const be = backend as WasmBackend;
  const { q, k, v } = inputs;
  const { scale } = attrs!;
  const [, , Lq, c] = q.shape;
  const Lk = k.shape[2];
  if (Lq * Lk * c >= PER_HEAD_MIN_MACS) return perHead(be, q, k, v, scale);
  return batched(be, q, k, v, scale);
}

/** The fallback's kernels: batched q·kᵀ, scale, softmax, ·v. */
function batched(be: WasmBackend, q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, scale: number): tf.TensorInfo {
  const s = runWasmKernel("BatchMatMul", be, { a: q, b: k }, { transposeA: false, transposeB: true }); // (B, H, Lq, Lk)
  if (scale !== 1) {
    const S = be.typedArrayFromHeap(s);
    for (let i = 0; i < S.length; i++) S[i] *= scale;
  }
  const p = runWasmKernel("Softmax", be, { logits: s }, { dim: 3 });
  const o = runWasmKernel("BatchMatMul", be, { a: p, b: v }, { transposeA: false, transposeB: false });
  be.disposeData(s.dataId);
  be.disposeData(p.dataId);
  return { dataId: o.dataId, shape: q.shape, dtype: "float32" };
}

/**
 * Two XNNPACK products per (image, head): scores (Lq, c)·(c, Lk) on a
 * transposed copy of the head's keys, tfjs-wasm's softmax, then (Lq, Lk)·(Lk, c).
 * Kernel-level calls on tensor infos, as tfjs kernels compose (no engine tensors).
 */
function perHead(be: WasmBackend, q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, scale: number): tf.TensorInfo {
  const [B, H, Lq, c] = q.shape;
  const Lk = k.shape[2];
  const mm = (a: tf.TensorInfo, b: tf.TensorInfo) => runWasmKernel("BatchMatMul", be, { a, b }, { transposeA: false, transposeB: false });
  const out = be.makeOutput(q.shape, "float32");
  for (let bh = 0; bh < B * H; bh++) {
    const qh = be.makeOutput([1, Lq, c], "float32");
    const kT = be.makeOutput([1, c, Lk], "float32");
    const vh = be.makeOutput([1, Lk, c], "float32");
    {
      const [Q, K, V] = [q, k, v].map((t) => be.typedArrayFromHeap(t));
      const [QH, KT, VH] = [qh, kT, vh].map((t) => be.typedArrayFromHeap(t));
      for (let i = 0; i < Lq * c; i++) QH[i] = Q[bh * Lq * c + i] * scale;
      for (let j = 0; j < Lk; j++) for (let t = 0; t < c; t++) KT[t * Lk + j] = K[(bh * Lk + j) * c + t];
      VH.set(V.subarray(bh * Lk * c, (bh + 1) * Lk * c));
    }
    const s = mm(qh, kT); // (1, Lq, Lk)
    const p = runWasmKernel("Softmax", be, { logits: s }, { dim: 2 });
    const o = mm(p, vh); // (1, Lq, c)
    be.typedArrayFromHeap(out).set(be.typedArrayFromHeap(o), bh * Lq * c);
    for (const t of [qh, kT, vh, s, p, o]) be.disposeData(t.dataId);
  }
  return out;
}

export const kvAttentionConfig: tf.KernelConfig = {
  kernelName: KVAttention,
  backendName: "wasm",
  kernelFunc: kvAttention as unknown as tf.KernelFunc,
};
