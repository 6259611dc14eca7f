/**
 * Load a VQ-VAE and a VAR that belong together, from official `.pth` or
 * safetensors files (paths, URLs, bytes or Blobs), or by name from the model
 * cache (`{ preset: "d16" }`, `"var-d16"`, `"vae"`: see `resolveModel` in
 * core). The VAR's configuration (depth, width, patch_nums, shared AdaLN …)
 * is inferred from its shapes, and the VQ-VAE is built for the VAR's
 * patch_nums.
 */
import { type DownloadProgress, openCheckpoint, resolveModel, type SourceInput } from "@nextscale/core";
import { loadVqvae, type VQVAE } from "@nextscale/tokenizer";
import type { VarPresetName } from "@nextscale/transformer";
import { VarTransformer } from "@nextscale/transformer";
import { checkModelPair } from "./generate.js";

/** Two checkpoints (paths, URLs, bytes, Blobs, or names such as "vae" and "var-d16"), or an official preset by name. */
export type ModelSources = { vae: SourceInput; var: SourceInput } | { preset: VarPresetName };

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
  /**
   * Download official files named by `preset` or a name that are not cached
   * yet (Node only; default false: a name whose file is not cached is a
   * `ModelNotCachedError` naming the `nextscale download` command).
   */
  download?: boolean;
  onDownloadProgress?: (p: DownloadProgress & { model: "vae" | "var" }) => void;
  /** The model cache (default `NEXTSCALE_CACHE`, else `~/.cache/nextscale`). */
  cacheDir?: string;
  /** Base URL of the hub files (default `NEXTSCALE_HUB_URL`, else the official hub). */
  hubUrl?: string;
}

/** A name (`var-d16`, `vae`) -> the cached file (Node) or its URL (browser); anything else unchanged. */
async function resolveSource(s: SourceInput, model: "vae" | "var", opts: LoadModelsOptions): Promise<SourceInput> {
  if (typeof s !== "string") return s;
  return resolveModel(s, {
    download: opts.download,
    cacheDir: opts.cacheDir,
    hubUrl: opts.hubUrl,
    onProgress: opts.onDownloadProgress && ((p) => opts.onDownloadProgress!({ model, ...p })),
  });
}

export async function loadModels(sources: ModelSources, opts: LoadModelsOptions = {}): Promise<LoadedModels> {
  const pack = opts.pack ?? true;
  const named = "preset" in sources ? { var: `var-${sources.preset}`, vae: "vae" } : sources;
  const varSource = await resolveSource(named.var, "var", opts);
  const vaeSource = await resolveSource(named.vae, "vae", opts);
  const store = await openCheckpoint(varSource);
  let model: VarTransformer;
  try {
    model = await VarTransformer.fromCheckpoint(store, { pack, onProgress: (p) => opts.onProgress?.({ model: "var", ...p }) });
  } finally {
    await store.close();
  }
  let vae: VQVAE | undefined;
  try {
    vae = await loadVqvae(vaeSource, {
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
