/**
 * The training kernels of @nextscale/contract on the CPU device:
 * GroupNormActGrad (GroupNormAct's gradient in three passes per image
 * instead of some 25 element-wise kernels), GeluTanh and GeluTanhGrad (one
 * pass each instead of 7 and 14) and AdamWUpdate (one AdamW step of one
 * parameter in one pass, rounded as the plain ops round it).
 */
import {
  AdamWUpdate,
  type AdamWUpdateAttrs,
  GeluTanh,
  GeluTanhGrad,
  GroupNormActGrad,
  type GroupNormActGradAttrs,
} from "@nextscale/contract";
import { f32, f32s, type NativeKernel, output } from "./util.js";

export const groupNormActGrad: NativeKernel = {
  kernelName: GroupNormActGrad,
  run({ inputs, backend, attrs }, device) {
    const { x, gamma, beta, dy } = inputs;
    const v = f32s(backend, x, gamma, beta, dy);
    if (!v || !device.groupNormActGrad || x.shape.length !== 4) return null;
    const [B, H, W, C] = x.shape;
    const { groups, eps, silu } = attrs as unknown as GroupNormActGradAttrs;
    const dx = output(backend, x.shape);
    const dgamma = output(backend, [C]);
    const dbeta = output(backend, [C]);
    if (dx.values.length) device.groupNormActGrad(v[0], v[1], v[2], v[3], dx.values, dgamma.values, dbeta.values, B, H * W, C, groups, eps, silu);
    return [dx.info, dgamma.info, dbeta.info];
  },
};

export const adamWUpdate: NativeKernel = {
  kernelName: AdamWUpdate,
  run({ inputs, backend, attrs }, device) {
    const { param, grad, m, v, gradScale } = inputs;
    const vs = f32s(backend, param, grad, m, v);
    const scale = gradScale ? f32(backend, gradScale) : null;
    if (!vs || !device.adamWUpdate || (gradScale && !scale)) return null;
    const a = attrs as unknown as AdamWUpdateAttrs;
    const consts = Float32Array.of(a.decay, a.beta1, a.oneMinusBeta1, a.beta2, a.oneMinusBeta2, a.bc2Sqrt, a.eps, a.negStepSize);
    const outs = [output(backend, param.shape), output(backend, param.shape), output(backend, param.shape)];
    device.adamWUpdate(vs[0], vs[1], vs[2], vs[3], scale, outs[0].values, outs[1].values, outs[2].values, vs[0].length, consts);
    return outs.map((o) => o.info);
  },
};

export const geluTanh: NativeKernel = {
  kernelName: GeluTanh,
  run({ inputs, backend }, device) {
    const v = f32s(backend, inputs.x);
    if (!v || !device.geluTanh) return null;
    const y = output(backend, inputs.x.shape);
    if (y.values.length) device.geluTanh(v[0], y.values, y.values.length);
    return y.info;
  },
};

export const geluTanhGrad: NativeKernel = {
  kernelName: GeluTanhGrad,
  run({ inputs, backend }, device) {
    const { x, dy } = inputs;
    const v = f32s(backend, x, dy);
    if (!v || !device.geluTanhGrad || v[0].length !== v[1].length) return null;
    const dx = output(backend, x.shape);
    if (dx.values.length) device.geluTanhGrad(v[0], v[1], dx.values, dx.values.length);
    return dx.info;
  },
};

export const TRAINING_NATIVE = [groupNormActGrad, geluTanh, geluTanhGrad, adamWUpdate];
