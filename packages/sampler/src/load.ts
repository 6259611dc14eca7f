/**
 * Load a VQ-VAE and a VAR that belong together, from official `.pth` or
 * safetensors files (paths, URLs, bytes or Blobs). The VAR's configuration
 * (depth, width, patch_nums, shared AdaLN …) is inferred from its shapes, and
 * the VQ-VAE is built for the VAR's patch_nums.
 */
import { openCheckpoint, type SourceInput } from "@nextscale/core";
import { loadVqvae, type VQVAE } from "@nextscale/tokenizer";
import { VarTransformer } from "@nextscale/transformer";
import { checkModelPair } from "./generate.js";

export interface LoadedModels {
  vae: VQVAE;
  var: VarTransformer;
  dispose(): void;
}

export interface LoadModelsOptions {
  onProgress?: (p: { model: "vae" | "var"; loaded: number; total: number }) => void;
  /**
   * Pack the weights for inference as they load (default true): on wasm each
   * weight is then held once, in the packed form XNNPACK multiplies with,
   * instead of twice. Packed models generate, edit and reconstruct as usual
   * but cannot export or train their weights (`PackedWeightError`); pass
   * false to keep them readable. No effect on cpu and webgpu.
   */
  pack?: boolean;
}

export async function loadModels(
  sources: { vae: SourceInput; var: SourceInput },
  opts: LoadModelsOptions = {},
): Promise<LoadedModels> {
  const pack = opts.pack ?? true;
  const store = await openCheckpoint(sources.var);
  let model: VarTransformer;
  try {
    model = await VarTransformer.fromCheckpoint(store, { pack, onProgress: (p) => opts.onProgress?.({ model: "var", ...p }) });
  } finally {
    await store.close();
  }
  let vae: VQVAE | undefined;
  try {
    vae = await loadVqvae(sources.vae, {
      patchNums: model.config.patchNums,
      pack,
      onProgress: (p) => opts.onProgress?.({ model: "vae", ...p }),
    });
    checkModelPair(vae, model);
  } catch (e) {
    vae?.dispose();
    model.dispose();
    throw e;
  }
  const v = vae;
  return {
    vae: v,
    var: model,
    dispose() {
      v.dispose();
      model.dispose();
    },
  };
}
