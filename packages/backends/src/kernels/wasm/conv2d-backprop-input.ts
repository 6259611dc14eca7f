/**
 * Conv2DBackpropInput on wasm (the input gradient of a convolution), an
 * override of tfjs-wasm's kernel, which is a scalar loop (measured 1–2
 * GFLOP/s). The input gradient is itself a convolution: for a stride-1
 * convolution y = conv(x, w) with padding (top, left),
 *
 *   dx = conv(dy, w'), w'[i, j, co, ci] = w[KH-1-i, KW-1-j, ci, co],
 *
 * padded by KH-1-top above (KW-1-left to the left) and whatever makes dx
 * the input's size below and to the right; a stride s > 1 is the same on
 * dy with s-1 zeros inserted between its rows and its columns. That runs
 * through tfjs-wasm's Conv2D (XNNPACK). Dilated filters, NCHW and
 * paddings that would need a crop go to tfjs-wasm's kernel unchanged.
 * conv2d-backprop-input.test.ts checks it against tfjs-wasm's kernel and
 * prints the largest difference.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, runWasmKernel, type WasmBackend } from "./backend-wasm.js";

interface Attrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  inputShape: [number, number, number, number];
}

let original: tf.KernelConfig | undefined;

function conv2DBackpropInput(args: KernelArgs<{ dy: tf.TensorInfo; filter: tf.TensorInfo }, Attrs>): tf.TensorInfo {
  const be = args.backend as WasmBackend;
  const { dy, filter } = args.inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs!;
  const fallback = () => original!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  if (!enabled) return fallback();
  if (dataFormat !== "NHWC" || dy.dtype !== "float32" || filter.dtype !== "float32") return fallback();
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, "channelsLast");
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co, outHeight: Ho, outWidth: Wo, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: KH, filterWidth: KW } = info;
  const { top, left } = info.padInfo;
  // the dilated dy's size, and the padding of the equivalent stride-1 convolution
  const Hd = (Ho - 1) * sh + 1;
  const Wd = (Wo - 1) * sw + 1;
  const pt = KH - 1 - top;
  const pl = KW - 1 - left;
  const pb = H - Hd - pt + KH - 1;
  const pr = W - Wd - pl + KW - 1;
  if (pt < 0 || pl < 0 || pb < 0 || pr < 0) return fallback();

  // w'[i, j, co, ci] = w[KH-1-i, KW-1-j, ci, co]
  const wf = be.makeOutput([KH, KW, Co, Ci], "float32");
  {
    const F = be.typedArrayFromHeap(filter);
    const G = be.typedArrayFromHeap(wf);
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        const src = ((KH - 1 - i) * KW + (KW - 1 - j)) * Ci * Co;
        const dst = (i * KW + j) * Co * Ci;
        for (let ci = 0; ci < Ci; ci++) for (let co = 0; co < Co; co++) G[dst + co * Ci + ci] = F[src + ci * Co + co];
      }
    }
  }
  let src = dy;
  if (sh > 1 || sw > 1) {
    src = be.makeOutput([B, Hd, Wd, Co], "float32");
    const D = be.typedArrayFromHeap(dy);
    const Z = be.typedArrayFromHeap(src);
    Z.fill(0);
    for (let b = 0; b < B; b++) {
      for (let r = 0; r < Ho; r++) {
        for (let c = 0; c < Wo; c++) {
          const from = ((b * Ho + r) * Wo + c) * Co;
          Z.set(D.subarray(from, from + Co), ((b * Hd + r * sh) * Wd + c * sw) * Co);
        }
      }
    }
  }
  const out = runWasmKernel(
    "Conv2D",
    be,
    { x: src, filter: wf },
    {
      strides: 1,
      pad: [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ],
      dataFormat: "NHWC",
      dilations: 1,
    },
  );
  be.disposeData(wf.dataId);
  if (src !== dy) be.disposeData(src.dataId);
  return out;
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: "Conv2DBackpropInput",
  backendName: "wasm",
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};

let installed = false;
let enabled = true;

/**
 * Replace tfjs-wasm's Conv2DBackpropInput with this kernel (once: kernels registered
 * later, such as weight packing's guard, wrap it); tfjs-wasm's kernel stays
 * its fallback.
 */
export function installConv2DBackpropInput(): void {
  if (installed) return;
  const current = tf.getKernel("Conv2DBackpropInput", "wasm");
  if (!current) return;
  installed = true;
  original = current;
  tf.unregisterKernel("Conv2DBackpropInput", "wasm");
  tf.registerKernel(conv2DBackpropInputConfig);
}

/** Off: every call goes to tfjs-wasm's kernel (benchmarks and tests compare the two). */
export function enableConv2DBackpropInput(on: boolean): void {
  enabled = on;
}
