/**
 * Packed weights: inference with one copy of each weight.
 *
 * A backend whose product kernels keep their own packed copy of a weight
 * (tfjs-wasm: XNNPACK packs every matMul and conv2d weight into its operator
 * cache on first use and keeps it as long as the tensor lives) holds every
 * weight twice. `Module.packForInference()` lets such a backend drop the
 * unpacked copy: each `Linear` and `Conv2d` runs its product once on a
 * one-element input as soon as its weight is set, so the kernel packs it,
 * then the backend frees the unpacked values. The layer keeps working
 * through the packed copy; anything else that would read the weight
 * (`stateDict()`, `toTorch()`, gradients, another product configuration)
 * throws `PackedWeightError` instead of reading freed memory.
 *
 * Backends register how they release a weight (`registerWeightPacking`);
 * `@nextscale/backends` does so for wasm after checking, at start-up, that
 * the released memory is never read again. On backends without one
 * (cpu, webgpu) packing is a no-op and the weights stay readable. The
 * registry is a global under `Symbol.for("@nextscale/weight-packing")` (a
 * `Map` from backend name to `WeightPacking`), as tfjs keeps its kernel
 * registry, so a backend package registers without importing core and two
 * copies of core in one program see the same entries.
 */
import * as tf from "@tensorflow/tfjs-core";

export type PackedConv2d = (x: tf.Tensor4D, w: tf.Tensor4D, stride: number, pad: [[number, number], [number, number]]) => tf.Tensor4D;

export interface WeightPacking {
  /**
   * Free the unpacked values of `w`, whose product kernel already holds a
   * packed copy; return false (changing nothing) when that is not possible.
   */
  release(w: tf.Tensor): boolean;
  /**
   * A float32 tensor of `shape` whose values `fill` writes, placed in
   * memory that the backend reuses for the next staged weight once this one
   * is released: loading then leaves no holes between the packed copies.
   * Optional; without it, weights are created as ordinary tensors.
   */
  stage?(shape: number[], fill: (dst: Float32Array) => void): tf.Tensor;
  /** Free what `stage` keeps for reuse (called when a load finishes). */
  flush?(): void;
  /**
   * The convolution a packed conv weight of this HWIO shape runs with, when
   * it is not `tf.conv2d`; null to keep `tf.conv2d`. (wasm: im2col then
   * matMul for large filters, because XNNPACK's convolution operator keeps
   * two packed copies of its weight and its matMul one.) `pad` is
   * ((top, bottom), (left, right)).
   */
  conv2dFor?(filterShape: readonly number[]): PackedConv2d | null;
}

const KEY = Symbol.for("@nextscale/weight-packing");
const registry = globalThis as unknown as Record<symbol, Map<string, WeightPacking> | undefined>;
registry[KEY] ??= new Map();
const packings = registry[KEY];

/** Register (or with `null`, remove) how `backend` releases packed weights. */
export function registerWeightPacking(backend: string, packing: WeightPacking | null): void {
  if (packing) packings.set(backend, packing);
  else packings.delete(backend);
}

/** The active backend's weight packing, if it has one. */
export function weightPacking(backend: string = tf.getBackend()): WeightPacking | undefined {
  return packings.get(backend);
}

/** A packed weight was asked for something other than the product it was packed for. */
export class PackedWeightError extends Error {
  override name = "PackedWeightError";
}

/** Free the active backend's staging memory (after loading or initialising packed weights). */
export function flushWeightStaging(): void {
  weightPacking()?.flush?.();
}
