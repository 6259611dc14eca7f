/**
 * The fused kernels of @nextscale/contract on the device, with the
 * semantics of core's fallbacks (packages/core/src/kernels/*.ts) and of the
 * wasm kernels (packages/backends/src/kernels/wasm/*.ts): AdaLN modulation
 * per token row; KV attention as two sgemms and a softmax per (image, head);
 * GroupNorm statistics in float64 with the affine map and SiLU in one pass;
 * Resample2d over the non-zero taps of its matrices.
 */
import { AdaLNModulate, type AdaLNModulateAttrs, GroupNormAct, type GroupNormActAttrs, KVAttention, type KVAttentionAttrs, Resample2d } from "@nextscale/contract";
import { f32s, type NativeKernel, output } from "./util.js";

export const adaLNModulate: NativeKernel = {
  kernelName: AdaLNModulate,
  run({ inputs, backend, attrs }, device) {
    const { x, scale, shift } = inputs;
    const v = f32s(backend, x, scale, shift);
    if (!v || x.shape.length !== 3) return null;
    const [B, L, C] = x.shape;
    if (v[1].length !== B * C || v[2].length !== B * C) return null;
    const out = output(backend, x.shape);
    if (out.values.length) device.adaLNModulate(v[0], v[1], v[2], out.values, B, L, C, (attrs as unknown as AdaLNModulateAttrs).eps);
    return out.info;
  },
};

export const kvAttention: NativeKernel = {
  kernelName: KVAttention,
  run({ inputs, backend, attrs }, device) {
    const { q, k, v: vt } = inputs;
    const v = f32s(backend, q, k, vt);
    if (!v || q.shape.length !== 4) return null;
    const [B, H, Lq, c] = q.shape;
    const Lk = k.shape[2];
    const out = output(backend, q.shape);
    if (out.values.length) device.kvAttention(v[0], v[1], v[2], out.values, B * H, Lq, Lk, c, (attrs as unknown as KVAttentionAttrs).scale);
    return out.info;
  },
};

export const groupNormAct: NativeKernel = {
  kernelName: GroupNormAct,
  run({ inputs, backend, attrs }, device) {
    const { x, gamma, beta } = inputs;
    const v = f32s(backend, x, gamma, beta);
    if (!v || x.shape.length !== 4) return null;
    const [B, H, W, C] = x.shape;
    const { groups, eps, silu } = attrs as unknown as GroupNormActAttrs;
    const out = output(backend, x.shape);
    if (out.values.length) device.groupNormAct(v[0], v[1], v[2], out.values, B, H * W, C, groups, eps, silu);
    return out.info;
  },
};

export const resample2d: NativeKernel = {
  kernelName: Resample2d,
  run({ inputs, backend }, device) {
    const { x, mh, mw } = inputs;
    const v = f32s(backend, x, mh, mw);
    if (!v || x.shape.length !== 4) return null;
    const [B, H, W, C] = x.shape;
    const [h, w] = [mh.shape[0], mw.shape[0]];
    const out = output(backend, [B, h, w, C]);
    if (out.values.length) device.resample2d(v[0], v[1], v[2], out.values, B, H, W, C, h, w);
    return out.info;
  },
};

export const FUSED_NATIVE = [adaLNModulate, kvAttention, groupNormAct, resample2d];
