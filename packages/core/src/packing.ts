/**
 * Packing a model for inference: one transform, applied to a loaded model
 * (`packForInference`) or to each weight as it loads (`packWhileLoading`),
 * that hands every product weight — each `Linear` and `Conv2d` weight, with
 * the product its layer runs — to the active backend's `WeightPacking`
 * (@nextscale/contract). A backend whose product kernels keep their own
 * packed copy of a weight (wasm: XNNPACK) frees the unpacked one, so each
 * weight is held once; the backend then refuses every other use of the
 * weight (reading, exporting, training) with `PackedWeightError`. On
 * backends that register no packing (cpu, webgpu) nothing changes.
 *
 * Inference only: loading never packs unless asked, and a packed model
 * cannot train (load it again without packing).
 */
import { getWeightPacking, type ProductWeight, type WeightPacking } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import type { LoadTransform, Module, Parameter } from "./module.js";
import { Conv2d, Linear } from "./nn.js";

/** Every product weight of `model` by parameter: each Linear and Conv2d weight, and how to run its product once. */
function productWeights(model: Module): Map<Parameter, ProductWeight> {
  const out = new Map<Parameter, ProductWeight>();
  for (const [prefix, m] of model.namedModules()) {
    let warm: () => tf.Tensor;
    if (m instanceof Linear) warm = () => m.product(tf.zeros([1, m.inFeatures]));
    else if (m instanceof Conv2d) warm = () => m.convolve(tf.zeros([1, m.weight.shape[2], m.weight.shape[3], m.inChannels]));
    else continue;
    const p = m.weight;
    out.set(p, {
      name: prefix ? `${prefix}.weight` : "weight",
      get tensor() {
        return p.value;
      },
      warm: () => tf.tidy(() => void warm()),
    });
  }
  return out;
}

/**
 * Pack the weights `model` has now for inference on `backend` (default: the
 * active one). Returns how many are now held only in packed form (0 where
 * the backend packs nothing).
 */
export function packForInference(model: Module, backend: string = tf.getBackend()): number {
  const packing = getWeightPacking(backend);
  if (!packing) return 0;
  for (const [p, w] of productWeights(model)) if (p.isSet) packing.pack(w);
  packing.flush?.();
  return packedWeightCount(model, backend);
}

/** How many of `model`'s weights `backend` (default: the active one) holds only in packed form. */
export function packedWeightCount(model: Module, backend: string = tf.getBackend()): number {
  const packing = getWeightPacking(backend);
  if (!packing) return 0;
  return [...productWeights(model).keys()].filter((p) => p.isSet && packing.isPacked(p.value)).length;
}

/**
 * A load transform (`loadStateDict(source, { transform })`) that packs each
 * product weight as soon as it is set, through the backend's staging memory:
 * one unpacked weight at a time, so loading needs about one copy of the
 * weights, not two. Undefined where the backend packs nothing.
 */
export function packWhileLoading(model: Module, backend: string = tf.getBackend()): LoadTransform | undefined {
  const packing: WeightPacking | undefined = getWeightPacking(backend);
  if (!packing) return undefined;
  const products = productWeights(model);
  return {
    set(p, values) {
      const w = products.get(p);
      p.setTorchHost(values, w ? packing.stage?.bind(packing) : undefined);
      if (w) packing.pack(w);
    },
    done: () => packing.flush?.(),
  };
}
