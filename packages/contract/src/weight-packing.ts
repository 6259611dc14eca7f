/**
 * Weight packing: how a backend may hold a layer's weight only in the packed
 * form its product kernel uses, for inference.
 *
 * Some backends' product kernels keep their own packed copy of a constant
 * operand (tfjs-wasm: XNNPACK packs every matMul and conv2d weight into an
 * operator cached for as long as the tensor lives), so every weight is held
 * twice. A backend that can drop the unpacked copy registers a
 * `WeightPacking` here; `packForInference` in `@nextscale/core` hands it
 * the model's product weights (every `Linear` and `Conv2d` weight), and the
 * backend packs each one and frees its unpacked values. From then on the
 * tensor may only be used for the product it was packed for: any other use
 * (reading it, exporting it, another product, a gradient) must throw
 * `PackedWeightError`, never read freed memory.
 *
 * The registry is a global under `Symbol.for("@nextscale/weight-packing")`,
 * as tfjs keeps its kernel registry, so two copies of this package in one
 * program see the same entries.
 */
import type * as tf from "@tensorflow/tfjs-core";

/** One weight that a layer multiplies by, as a backend needs it to pack it. */
export interface ProductWeight {
  /** The parameter's state-dict name, for error messages. */
  readonly name: string;
  /** The weight, as the product kernel receives it. */
  readonly tensor: tf.Tensor;
  /** Run the layer's product once on the smallest input (results freed), so the kernel packs the weight. */
  warm(): void;
}

export interface WeightPacking {
  /**
   * Hold `w` only in packed form: run `w.warm()`, then free the unpacked
   * values. Returns false, changing nothing, when that is not possible.
   */
  pack(w: ProductWeight): boolean;
  /** Whether `t` is held only in packed form. */
  isPacked(t: tf.Tensor): boolean;
  /**
   * A float32 tensor of `shape` whose values `fill` writes, placed in memory
   * the backend reuses for the next staged weight once this one is packed:
   * a load that packs as it goes then leaves no holes between the packed
   * copies. Optional; without it weights are created as ordinary tensors.
   */
  stage?(shape: number[], fill: (dst: Float32Array) => void): tf.Tensor;
  /** Free what `stage` keeps for reuse (called when a load finishes). */
  flush?(): void;
}

/** A packed weight was asked for something other than the product it was packed for. */
export class PackedWeightError extends Error {
  override name = "PackedWeightError";
}

const KEY = Symbol.for("@nextscale/weight-packing");
const registry = globalThis as unknown as Record<symbol, Map<string, WeightPacking> | undefined>;
registry[KEY] ??= new Map();
const packings = registry[KEY];

/** Register (or with `null`, remove) how `backend` packs weights. */
export function registerWeightPacking(backend: string, packing: WeightPacking | null): void {
  if (packing) packings.set(backend, packing);
  else packings.delete(backend);
}

/** The weight packing registered for `backend`, if any. */
export function getWeightPacking(backend: string): WeightPacking | undefined {
  return packings.get(backend);
}
