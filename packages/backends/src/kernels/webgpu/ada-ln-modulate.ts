/**
 * AdaLNModulate on webgpu: LN(x)·(1 + scale) + shift in one dispatch
 * (program in ada-ln-modulate-program.ts). The op and its fallback are
 * `adaLNModulate` in @nextscale/core (core/src/kernels/ada-ln-modulate.ts).
 */
import { AdaLNModulate, type AdaLNModulateAttrs, type AdaLNModulateInputs } from "@nextscale/contract";
import type * as tf from "@tensorflow/tfjs-core";
// Types only: importing tfjs-backend-webgpu registers it, which in Node must wait for Dawn (loaders/webgpu.ts).
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { KernelArgs } from "../wasm/backend-wasm.js";
import { AdaLNModulateProgram } from "./ada-ln-modulate-program.js";

const MAX_WORKGROUPS = 65535;

function adaLNModulate({ inputs, backend, attrs }: KernelArgs<AdaLNModulateInputs, AdaLNModulateAttrs>) {
  const gpu = backend as WebGPUBackend;
  const { x, scale, shift } = inputs;
  const [B, L, C] = x.shape;
  if (B * L > MAX_WORKGROUPS) throw new Error(`AdaLNModulate (webgpu): at most ${MAX_WORKGROUPS} rows (got ${B * L})`);
  const rows = B * L;
  const as2d = (t: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });
  const program = new AdaLNModulateProgram(rows, C, { x: [0, 1] });
  const { eps } = attrs!;
  const out = gpu.runWebGPUProgram(
    program as never,
    [as2d(x, [rows, C]), as2d(scale, [B, C]), as2d(shift, [B, C])],
    "float32",
    [
      { type: "int32", data: [L] },
      { type: "float32", data: [eps] },
    ],
  );
  return { dataId: out.dataId, shape: [B, L, C], dtype: out.dtype };
}

export const adaLNModulateConfig: tf.KernelConfig = {
  kernelName: AdaLNModulate,
  backendName: "webgpu",
  kernelFunc: adaLNModulate as unknown as tf.KernelFunc,
};
