/**
 * Token maps of a dataset for stage 2: every image encoded once by the
 * frozen VQ-VAE (`img_to_idxBl`, the validation transform: shorter side to
 * round(1.125·S), centre S×S crop), kept as int32 indices per scale with the
 * labels, and cached in one safetensors file keyed by a SHA-256 of the
 * VQ-VAE's file, the images as transformed, the labels and the patch_nums.
 * The next run with the same key reads the file instead of encoding again.
 *
 * Node only for the cache on disk (`node:fs`, `node:crypto` are imported
 * when called); `encodeTokenMaps` works anywhere.
 */
import { openCheckpoint, writeSafetensors } from "@nextscale/core";
import type { VQVAE } from "@nextscale/tokenizer";
import * as tf from "@tensorflow/tfjs-core";
import { type ImageDataset, takeFirst } from "./data/datasets.js";
import { DataLoader } from "./data/loader.js";

/** A dataset's token maps: per scale k, int32 (N, pn_k²) row-major, and N labels. */
export interface TokenMaps {
  patchNums: number[];
  count: number;
  numClasses: number;
  labels: Int32Array;
  scales: Int32Array[];
}

/** One batch of token maps (what `VarTrainer.trainStep` takes): per scale (B, pn_k²) and B labels. */
export interface TokenBatch {
  scales: Int32Array[];
  labels: Int32Array;
}

export const TOKEN_CACHE_FORMAT = "nextscale-token-cache";

/** Items `indices` of `maps` as a batch. */
export function tokenBatch(maps: TokenMaps, indices: readonly number[]): TokenBatch {
  const scales = maps.patchNums.map((pn, k) => {
    const n = pn * pn;
    const out = new Int32Array(indices.length * n);
    indices.forEach((i, b) => {
      out.set(maps.scales[k].subarray(i * n, (i + 1) * n), b * n);
    });
    return out;
  });
  return { scales, labels: Int32Array.from(indices, (i) => maps.labels[i]) };
}

export interface TokenEncodeOptions {
  /** Encode only the dataset's first `limit` items (default all). */
  limit?: number;
  /** Images per VQ-VAE call (default 16). */
  batchSize?: number;
  /** Called after each batch with the items done. */
  onProgress?: (done: number, total: number) => void;
}

/** The first `limit` items of a dataset (all when undefined). */
const firstItems = (ds: ImageDataset, limit?: number): ImageDataset => (limit === undefined ? ds : takeFirst(ds, limit));

function loaderFor(vqvae: VQVAE, dataset: ImageDataset, batchSize: number): DataLoader {
  return new DataLoader(dataset, { batchSize, shuffle: false, last: "partial", transform: "center", size: vqvae.imageSize(), prefetch: 1 });
}

/** Encode every image of `dataset` with `vqvae` (in dataset order). */
export async function encodeTokenMaps(vqvae: VQVAE, all: ImageDataset, opts: TokenEncodeOptions = {}): Promise<TokenMaps> {
  const dataset = firstItems(all, opts.limit);
  const patchNums = [...vqvae.config.patchNums];
  const N = dataset.length;
  const scales = patchNums.map((pn) => new Int32Array(N * pn * pn));
  const labels = new Int32Array(N);
  const loader = loaderFor(vqvae, dataset, opts.batchSize ?? 16);
  let done = 0;
  for await (const batch of loader.epoch(0)) {
    const img = tf.tensor4d(batch.images, batch.shape);
    const idx = vqvae.imageToIndices(img);
    img.dispose();
    for (let k = 0; k < idx.length; k++) {
      const n = patchNums[k] ** 2;
      const data = (await idx[k].data()) as Int32Array;
      for (const [b, item] of batch.indices.entries()) scales[k].set(data.subarray(b * n, (b + 1) * n), item * n);
    }
    tf.dispose(idx);
    for (const [b, item] of batch.indices.entries()) labels[item] = batch.labels[b];
    done += batch.indices.length;
    opts.onProgress?.(done, N);
  }
  return { patchNums, count: N, numClasses: dataset.numClasses, labels, scales };
}

export interface CachedTokenMapsOptions extends TokenEncodeOptions {
  /** The frozen VQ-VAE (loaded from `vqvaeFile`). */
  vqvae: VQVAE;
  /** Path of the VQ-VAE's checkpoint: its bytes are part of the cache key. */
  vqvaeFile: string;
  dataset: ImageDataset;
  /** Folder of the cache file (e.g. the run's folder). */
  dir: string;
}

export interface CachedTokenMaps extends TokenMaps {
  /** The cache file. */
  path: string;
  /** Hex SHA-256 key of the cache. */
  key: string;
  /** True when read from an existing cache file, false when encoded now. */
  fromCache: boolean;
}

/**
 * The dataset's token maps, from `<dir>/tokens-<key>.safetensors` when it
 * exists with the same key, else encoded now and written there (atomically:
 * a temporary file renamed over the target).
 */
export async function cachedTokenMaps(o: CachedTokenMapsOptions): Promise<CachedTokenMaps> {
  const { createHash } = await import("node:crypto");
  const fs = await import("node:fs/promises");
  const { join } = await import("node:path");
  const batchSize = o.batchSize ?? 16;
  const dataset = firstItems(o.dataset, o.limit);
  const h = createHash("sha256");
  h.update(`${TOKEN_CACHE_FORMAT}\0patch_nums=${JSON.stringify(o.vqvae.config.patchNums)}\0size=${o.vqvae.imageSize()}\0`);
  h.update(createHash("sha256").update(await fs.readFile(o.vqvaeFile)).digest());
  h.update(`\0n=${dataset.length}\0classes=${dataset.numClasses}\0`);
  for await (const batch of loaderFor(o.vqvae, dataset, batchSize).epoch(0)) {
    h.update(new Uint8Array(batch.images.buffer, batch.images.byteOffset, batch.images.byteLength));
    h.update(new Uint8Array(batch.labels.buffer, batch.labels.byteOffset, batch.labels.byteLength));
  }
  const key = h.digest("hex");
  const path = join(o.dir, `tokens-${key.slice(0, 16)}.safetensors`);
  const existing = await readTokenCache(path, key).catch(() => undefined);
  if (existing) return { ...existing, path, key, fromCache: true };
  const maps = await encodeTokenMaps(o.vqvae, o.dataset, o);
  await fs.mkdir(o.dir, { recursive: true });
  const bytes = writeSafetensors(
    [
      ["labels", { dtype: "int32", shape: [maps.count], data: maps.labels }],
      ...maps.scales.map((s, k): [string, { dtype: "int32"; shape: number[]; data: Int32Array }] => [`scale.${k}`, { dtype: "int32", shape: [maps.count, maps.patchNums[k] ** 2], data: s }]),
    ],
    { format: TOKEN_CACHE_FORMAT, key, patch_nums: JSON.stringify(maps.patchNums), num_classes: String(maps.numClasses) },
  );
  const tmp = `${path}.tmp-${process.pid}`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, path);
  return { ...maps, path, key, fromCache: false };
}

/** Read a token cache file; with `key`, undefined unless the file's key equals it. */
export async function readTokenCache(path: string, key?: string): Promise<TokenMaps | undefined> {
  const store = await openCheckpoint(path);
  try {
    const m = store.metadata as Record<string, string>;
    if (m.format !== TOKEN_CACHE_FORMAT) throw new Error(`${path} is not a token cache (format ${m.format})`);
    if (key !== undefined && m.key !== key) return undefined;
    const patchNums = JSON.parse(m.patch_nums) as number[];
    const labels = Int32Array.from((await store.read("labels")).data as Int32Array);
    const scales: Int32Array[] = [];
    for (let k = 0; k < patchNums.length; k++) scales.push(Int32Array.from((await store.read(`scale.${k}`)).data as Int32Array));
    return { patchNums, count: labels.length, numClasses: Number(m.num_classes), labels, scales };
  } finally {
    await store.close();
  }
}
