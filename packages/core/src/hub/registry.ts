/**
 * The official files by name: the VAR checkpoints and the VQ-VAE on the
 * Hugging Face hub (FoundationVision/var), pytorch-fid's Inception weights on
 * its GitHub release. Platform-neutral: names, files and URLs only; the cache
 * and the downloader are Node-only (`cache.node.ts`, behind `#model-cache`).
 */

/** The names `nextscale download` and `resolveModel` know. */
export type OfficialModelName = "var-d16" | "var-d20" | "var-d24" | "var-d30" | "var-d36" | "vae" | "inception";

export interface OfficialModel {
  name: OfficialModelName;
  /** The file name, as published (and as kept in the cache). */
  file: string;
  kind: "var" | "vae" | "inception";
  /** The default URL (see `officialModelUrl` for the overrides). */
  url: string;
  /** Where the file comes from, in words. */
  source: string;
  /**
   * About how large the file is (4 bytes per float32 element of the official
   * state dict); the exact size comes from the server (`Content-Length`,
   * `X-Linked-Size`) when downloading.
   */
  approxBytes: number;
  /**
   * The full SHA-256 when it is published; none is: the hub states each
   * LFS file's SHA-256 in `X-Linked-Etag` as it serves it, and pytorch-fid's
   * file name carries the first 8 hex digits (torch hub's convention).
   */
  sha256?: string;
}

/** FoundationVision/var's files on the hub (the official release). */
export const HUB_BASE_URL = "https://huggingface.co/FoundationVision/var/resolve/main";
/** pytorch-fid's release that holds its FID Inception weights. */
export const FID_WEIGHTS_BASE_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights";

const HUB = "FoundationVision/var on the Hugging Face hub";
const hub = (name: OfficialModelName, file: string, kind: OfficialModel["kind"], approxBytes: number): OfficialModel => ({
  name,
  file,
  kind,
  url: `${HUB_BASE_URL}/${file}`,
  source: HUB,
  approxBytes,
});
const INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth";

/** Every official file, by name. */
export const OFFICIAL_MODELS: Readonly<Record<OfficialModelName, OfficialModel>> = Object.freeze({
  "var-d16": hub("var-d16", "var_d16.pth", "var", 1.243e9),
  "var-d20": hub("var-d20", "var_d20.pth", "var", 2.406e9),
  "var-d24": hub("var-d24", "var_d24.pth", "var", 4.136e9),
  "var-d30": hub("var-d30", "var_d30.pth", "var", 8.042e9),
  "var-d36": hub("var-d36", "var_d36.pth", "var", 9.436e9),
  vae: hub("vae", "vae_ch160v4096z32.pth", "vae", 4.36e8),
  inception: {
    name: "inception",
    file: INCEPTION_FILE,
    kind: "inception",
    url: `${FID_WEIGHTS_BASE_URL}/${INCEPTION_FILE}`,
    source: "pytorch-fid's GitHub release fid_weights (mseitzer/pytorch-fid)",
    approxBytes: 9.55e7,
  },
});

/** The official file a name (`var-d16`) or a published file name (`var_d16.pth`) stands for; undefined otherwise. */
export function officialModel(name: string): OfficialModel | undefined {
  if (Object.hasOwn(OFFICIAL_MODELS, name)) return OFFICIAL_MODELS[name as OfficialModelName];
  return Object.values(OFFICIAL_MODELS).find((m) => m.file === name);
}

export interface ModelUrlOptions {
  /** Replaces {@link HUB_BASE_URL} (default: `NEXTSCALE_HUB_URL`, else `HF_ENDPOINT`/FoundationVision/var/resolve/main). */
  hubUrl?: string;
  /** Replaces {@link FID_WEIGHTS_BASE_URL} (default: `NEXTSCALE_FID_WEIGHTS_URL`). */
  fidWeightsUrl?: string;
}

function env(name: string): string | undefined {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return v ? v : undefined;
}

/**
 * Where a file is fetched from: the official URL, or the same file name
 * under an overriding base URL (options first, then the environment:
 * `NEXTSCALE_HUB_URL`, `HF_ENDPOINT` (a hub mirror), `NEXTSCALE_FID_WEIGHTS_URL`).
 */
export function officialModelUrl(model: OfficialModel, opts: ModelUrlOptions = {}): string {
  const trim = (s: string) => s.replace(/\/+$/, "");
  if (model.kind === "inception") {
    const base = opts.fidWeightsUrl ?? env("NEXTSCALE_FID_WEIGHTS_URL");
    return base ? `${trim(base)}/${model.file}` : model.url;
  }
  const hf = env("HF_ENDPOINT");
  const base = opts.hubUrl ?? env("NEXTSCALE_HUB_URL") ?? (hf ? `${trim(hf)}/FoundationVision/var/resolve/main` : undefined);
  return base ? `${trim(base)}/${model.file}` : model.url;
}

/** The SHA-256 prefix a file name carries (torch hub: `name-<hex>.ext`), lower case; undefined if none. */
export function fileNameHashPrefix(file: string): string | undefined {
  return /-([0-9a-f]{6,64})\.[^.-]+$/i.exec(file)?.[1].toLowerCase();
}

/** A known name whose file is not in the cache (and nothing was asked to download it). */
export class ModelNotCachedError extends Error {
  override name = "ModelNotCachedError";
  constructor(
    readonly model: OfficialModel,
    readonly cacheDir: string,
  ) {
    super(
      `${model.name} (${model.file}, about ${formatBytes(model.approxBytes)}) is not in the model cache ${cacheDir}: download it first with \`nextscale download ${model.name}\` (or downloadModel("${model.name}") from @nextscale/core); nothing is downloaded unless asked`,
    );
  }
}

/** A download that failed: HTTP errors, a dropped connection (the partial file is kept), a hash that does not match. */
export class ModelDownloadError extends Error {
  override name = "ModelDownloadError";
}

/** 1.24 GB, 436 MB, 95.5 MB, 700 kB, 12.3 kB, 512 B. */
export function formatBytes(n: number): string {
  const unit = (d: number, u: string) => `${(n / d).toFixed(n >= 100 * d ? 0 : 1)} ${u}`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return unit(1e6, "MB");
  if (n >= 1e3) return unit(1e3, "kB");
  return `${n} B`;
}
