/**
 * Conv2D, FusedConv2D and the two gradients of a convolution (NHWC, HWIO
 * filters): im2col over blocks of output rows, then OpenBLAS sgemm
 * (a 1×1 stride-1 convolution is one sgemm with no copy); the input
 * gradient is the transposed product scattered back (col2im). NCHW and
 * prelu activations run tfjs-backend-cpu's kernels.
 */
import * as tf from "@tensorflow/tfjs-core";
import { ACTIVATIONS, type Device } from "../device.js";
import { f32, f32s, type NativeArgs, type NativeKernel, output } from "./util.js";

type ConvAttrs = {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat?: "NHWC" | "NCHW";
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
};

function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): { info: tf.backend_util.Conv2DInfo; geom: Int32Array } | null {
  if ((attrs.dataFormat ?? "NHWC") !== "NHWC") return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const i = info;
  const geom = Int32Array.from([
    i.batchSize, i.inHeight, i.inWidth, i.inChannels, i.outHeight, i.outWidth, i.outChannels,
    i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth, i.dilationHeight, i.dilationWidth,
    i.padInfo.top, i.padInfo.left,
  ]);
  return { info, geom };
}

function conv(args: NativeArgs, device: Device): { info: tf.TensorInfo; values: Float32Array; Co: number } | null {
  const { x, filter } = args.inputs;
  const v = f32s(args.backend, x, filter);
  if (!v || x.shape.length !== 4 || filter.shape.length !== 4) return null;
  const g = geometry(x.shape, filter.shape, args.attrs as unknown as ConvAttrs);
  if (!g) return null;
  const out = output(args.backend, g.info.outShape);
  if (out.values.length) device.conv2d(g.geom, v[0], v[1], out.values);
  return { ...out, Co: g.info.outChannels };
}

export const conv2D: NativeKernel = { kernelName: "Conv2D", run: (args, device) => conv(args, device)?.info ?? null };

export const fusedConv2D: NativeKernel = {
  kernelName: "FusedConv2D",
  run(args, device) {
    const { bias, preluActivationWeights } = args.inputs;
    const { activation, leakyreluAlpha } = (args.attrs ?? {}) as { activation?: string; leakyreluAlpha?: number };
    const act = ACTIVATIONS[(activation ?? "linear") as keyof typeof ACTIVATIONS];
    if (act === undefined || preluActivationWeights) return null;
    const bv = bias ? f32(args.backend, bias) : null;
    if (bias && (!bv || (bv.length !== 1 && bv.length !== args.inputs.filter.shape[3]))) return null;
    const r = conv(args, device);
    if (!r) return null;
    if (r.values.length) device.biasAct(r.values, bv, r.values.length / r.Co, r.Co, !!bv && bv.length !== 1, act, leakyreluAlpha ?? 0.2);
    return r.info;
  },
};

export const conv2DBackpropFilter: NativeKernel = {
  kernelName: "Conv2DBackpropFilter",
  run(args, device) {
    const { x, dy } = args.inputs;
    const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
    const v = f32s(args.backend, x, dy);
    if (!v) return null;
    const g = geometry(x.shape, attrs.filterShape, { ...attrs, dilations: 1 });
    if (!g) return null;
    const out = output(args.backend, attrs.filterShape);
    if (out.values.length) device.conv2dBackpropFilter(g.geom, v[0], v[1], out.values);
    return out.info;
  },
};

export const conv2DBackpropInput: NativeKernel = {
  kernelName: "Conv2DBackpropInput",
  run(args, device) {
    const { dy, filter } = args.inputs;
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
    const v = f32s(args.backend, dy, filter);
    if (!v) return null;
    const g = geometry(attrs.inputShape, filter.shape, { ...attrs, dilations: 1 });
    if (!g) return null;
    const out = output(args.backend, attrs.inputShape);
    if (out.values.length) device.conv2dBackpropInput(g.geom, v[0], v[1], out.values);
    return out.info;
  },
};
