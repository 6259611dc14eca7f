/**
 * Load a VQ-VAE and a VAR that belong together, from official `.pth` or
 * safetensors files (paths, URLs, bytes or Blobs), or by name from the model
 * cache (`{ preset: "d16" }`, `"var-d16"`, `"vae"`: see `resolveModel` in
 * core). The VAR's configuration (depth, width, patch_nums, shared AdaLN …)
 * is inferred from its shapes, and the VQ-VAE is built for the VAR's
 * patch_nums. Without sources, the default model: the Fashion-MNIST VQ-VAE +
 * VAR of `@nextscale/model-fashion-mnist` (installed separately).
 */
import { type DownloadProgress, inspectCheckpoint, openCheckpoint, resolveModel, type SourceInput, StateDictError, type TensorStore } from "@nextscale/core";
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

/** Loading progress of one checkpoint (see `LoadModelsOptions.onProgress`). */
export interface LoadProgress {
  model: "vae" | "var";
  /** The checkpoint's name (its path or URL as given, or the cached file of a name). */
  file: string;
  /** The tensor just loaded ("" in the first event, before any). */
  key: string;
  /** Tensors loaded so far, of `total`. */
  loaded: number;
  total: number;
  /** Bytes of those tensors in the file (what has been read), of `totalBytes`. */
  bytes: number;
  totalBytes: number;
}

export interface LoadModelsOptions {
  /**
   * Loading progress, per checkpoint (the VAR first, then the VQ-VAE): one
   * event with `loaded: 0` before its first tensor, then one after each
   * tensor, with real counts of tensors and bytes (for a progress bar with an
   * ETA while a large checkpoint loads).
   */
  onProgress?: (p: LoadProgress) => void;
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

/** The package holding the default model (an optional peer dependency). */
export const DEFAULT_MODEL_PACKAGE = "@nextscale/model-fashion-mnist";

/** The default model's package is not installed (or cannot be imported). */
export class DefaultModelMissingError extends Error {
  override name = "DefaultModelMissingError";
}

/**
 * The default model's files (`@nextscale/model-fashion-mnist`'s weights), its
 * class names and sampling settings; a `DefaultModelMissingError` saying how
 * to install it when the package is absent.
 */
export async function defaultModel(): Promise<{
  name: string;
  files: { vae: string; var: string };
  classNames: readonly string[];
  sampling: { cfg: number; topK: number; topP: number };
}> {
  const spec = DEFAULT_MODEL_PACKAGE; // not a literal: a bundle without the package still builds
  let m: typeof import("@nextscale/model-fashion-mnist");
  try {
    m = await import(/* @vite-ignore */ spec);
  } catch (e) {
    throw new DefaultModelMissingError(
      `the default model is in ${DEFAULT_MODEL_PACKAGE}, which cannot be imported (${(e as Error).message.split("\n")[0]}): install it (npm i ${DEFAULT_MODEL_PACKAGE}), or pass the models' files ({ vae, var })`,
    );
  }
  return { name: m.MODEL_NAME, files: m.modelFiles(), classNames: m.CLASS_NAMES, sampling: { ...m.SAMPLING_DEFAULTS } };
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

/**
 * Both files, opened before anything loads, so a missing, unreadable or
 * swapped file is reported at once (not after the VAR has loaded).
 */
async function openBoth(varSource: SourceInput, vaeSource: SourceInput): Promise<{ varStore: TensorStore; vaeStore: TensorStore }> {
  const varStore = await openCheckpoint(varSource);
  let vaeStore: TensorStore;
  try {
    vaeStore = await openCheckpoint(vaeSource);
  } catch (e) {
    await varStore.close();
    throw e;
  }
  if (inspectCheckpoint(varStore).kind === "vae" && inspectCheckpoint(vaeStore).kind === "var") {
    await Promise.all([varStore.close(), vaeStore.close()]);
    const e = new StateDictError({ missing: [], unexpected: [], mismatched: [] }, "the models");
    e.message = `the checkpoints are swapped: ${varStore.name}, given as the VAR, looks like a VQ-VAE checkpoint (it has quantize.embedding.weight, encoder.*), and ${vaeStore.name}, given as the VQ-VAE, looks like a VAR checkpoint (it has class_emb.weight, blocks.*): pass them the other way round`;
    throw e;
  }
  return { varStore, vaeStore };
}

export async function loadModels(sources?: ModelSources, opts: LoadModelsOptions = {}): Promise<LoadedModels> {
  const pack = opts.pack ?? true;
  sources ??= (await defaultModel()).files;
  const named = "preset" in sources ? { var: `var-${sources.preset}`, vae: "vae" } : sources;
  const varSource = await resolveSource(named.var, "var", opts);
  const vaeSource = await resolveSource(named.vae, "vae", opts);
  const { varStore, vaeStore } = await openBoth(varSource, vaeSource);
  let varOpen = true;
  const closeVar = async () => {
    if (varOpen) await varStore.close();
    varOpen = false;
  };
  let model: VarTransformer | undefined;
  let vae: VQVAE | undefined;
  try {
    model = await VarTransformer.fromCheckpoint(varStore, { pack, onProgress: opts.onProgress && ((p) => opts.onProgress!({ model: "var", ...p })) });
    await closeVar(); // frees what the reader holds of the VAR before the VQ-VAE loads
    vae = await loadVqvae(vaeStore, {
      patchNums: model.config.patchNums,
      pack,
      onProgress: opts.onProgress && ((p) => opts.onProgress!({ model: "vae", ...p })),
    });
    checkModelPair(vae, model);
  } catch (e) {
    vae?.dispose();
    model?.dispose();
    throw e;
  } finally {
    await Promise.all([closeVar(), vaeStore.close()]);
  }
  const v = vae;
  const m = model;
  return {
    vae: v,
    var: m,
    dispose() {
      v.dispose();
      m.dispose();
    },
  };
}
