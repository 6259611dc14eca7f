/**
 * Browser: there is no model cache and no file system. A known name resolves
 * to its URL (the hub serves CORS and Range requests, so `openCheckpoint`
 * reads the tensors straight from it); downloading into a cache is Node-only.
 */
import type {
  CacheEntry,
  CacheOptions,
  DownloadFileOptions,
  DownloadFileResult,
  DownloadModelOptions,
  DownloadModelResult,
  ResolveModelOptions,
} from "./cache.node.js";
import { ModelDownloadError, OFFICIAL_MODELS, officialModel, officialModelUrl } from "./registry.js";

const NO_CACHE = "there is no model cache in the browser: pass a name (it opens the file's URL) or a File, Blob or URL to openCheckpoint";

export function modelCacheDir(): string {
  throw new ModelDownloadError(NO_CACHE);
}

export function cachedModelPath(_name: string, _opts: CacheOptions = {}): string | undefined {
  return undefined;
}

export function modelCacheStatus(_opts: CacheOptions = {}): CacheEntry[] {
  return Object.values(OFFICIAL_MODELS).map((model) => ({ model, path: model.url }));
}

/** A known name -> its URL (`hubUrl` / `fidWeightsUrl` override the base); anything else unchanged. */
export async function resolveModel(input: string, opts: ResolveModelOptions = {}): Promise<string> {
  const model = officialModel(input);
  return model ? officialModelUrl(model, opts) : input;
}

export async function downloadModel(_name: string, _opts: DownloadModelOptions = {}): Promise<DownloadModelResult> {
  throw new ModelDownloadError(NO_CACHE);
}

export async function downloadFile(_url: string, _dest: string, _opts: DownloadFileOptions = {}): Promise<DownloadFileResult> {
  throw new ModelDownloadError(NO_CACHE);
}
