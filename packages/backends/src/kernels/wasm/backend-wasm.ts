/**
 * What the wasm kernels use of tfjs-wasm's `BackendWasm`: tensor infos
 * allocated on and read from the WebAssembly heap. Kernels compose at this
 * level, on tensor infos, as tfjs's own kernels do (no engine tensors).
 */
import * as tf from "@tensorflow/tfjs-core";

export interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): tf.TensorInfo;
  /** A view of the heap; take it after the last allocation (allocating may grow, and move, the heap). */
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

/** A kernel function's argument, typed with the contract's inputs and attributes. */
export interface KernelArgs<Inputs, Attrs = unknown> {
  inputs: Inputs;
  backend: unknown;
  attrs?: Attrs;
}

/** Run the wasm kernel registered as `name` on tensor infos (the caller disposes the result). */
export function runWasmKernel(name: string, be: WasmBackend, inputs: tf.NamedTensorInfoMap, attrs: object): tf.TensorInfo {
  const k = tf.getKernel(name, "wasm");
  if (!k) throw new Error(`wasm: no kernel "${name}" registered`);
  return k.kernelFunc({ inputs, backend: be as unknown as tf.KernelBackend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
}
