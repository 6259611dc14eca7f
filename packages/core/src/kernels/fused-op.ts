/**
 * A named fused op: one tfjs kernel name with a plain tfjs-ops fallback.
 * When the active backend has a kernel registered under that name
 * (`@nextscale/backends` registers the ones that measured faster), the op
 * runs it through the engine (`runKernel`), with a gradient written from the
 * math; otherwise it runs the fallback, which autodiff sees op by op.
 * Model code calls the op and never knows which ran.
 */
import { isFusedKernel } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";

/** Whether the active backend has a fast kernel for `name`. */
export function hasFusedKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/**
 * Run the fused op `grad.kernelName` (a name from @nextscale/contract) on
 * the active backend's kernel when it has one, else its fallback.
 */
export function fusedOp<T extends tf.Tensor, Attrs extends object = Record<string, never>>(
  grad: tf.GradConfig,
  inputs: tf.NamedTensorMap,
  attrs: Attrs,
  fallback: () => T,
): T {
  if (!isFusedKernel(grad.kernelName)) throw new Error(`fusedOp: "${grad.kernelName}" is not a kernel name of @nextscale/contract`);
  // fast kernels are float32-only
  if (!hasFusedKernel(grad.kernelName) || Object.values(inputs).some((t) => t.dtype !== "float32")) return fallback();
  if (!tf.getGradient(grad.kernelName)) tf.registerGradient(grad);
  return tf.engine().runKernel(grad.kernelName, inputs, attrs as unknown as tf.NamedAttrMap) as T;
}
