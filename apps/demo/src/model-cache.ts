/**
 * Checkpoints by URL, downloaded once with progress and kept in the Cache
 * API (works in the worker), so a reload opens them from disk. The result is
 * a Blob: core's checkpoint readers read it slice by slice, so a large file
 * is never copied into one buffer.
 */

export const CACHE_NAME = "nextscale-models-v1";

export interface FetchProgress {
  file: string;
  loaded: number;
  total: number;
  cached: boolean;
}

export class DownloadError extends Error {
  override name = "DownloadError";
}

/** The file at `url`, from the cache when it is there, else downloaded (reporting progress) and cached. */
export async function fetchCached(url: string, onProgress: (p: FetchProgress) => void): Promise<Blob> {
  const file = url.split("/").pop()?.split("?")[0] || url;
  const cache = typeof caches === "undefined" ? null : await caches.open(CACHE_NAME);
  const hit = await cache?.match(url);
  if (hit) {
    const blob = await hit.blob();
    onProgress({ file, loaded: blob.size, total: blob.size, cached: true });
    return blob;
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DownloadError(`cannot download ${url}: ${(e as Error).message} (is the address right, and does the server allow cross-origin requests (CORS)?)`);
  }
  if (!res.ok) throw new DownloadError(`cannot download ${url}: the server answered ${res.status} ${res.statusText}`.trim());
  const total = Number(res.headers.get("Content-Length")) || 0;
  const parts: Uint8Array[] = [];
  let loaded = 0;
  onProgress({ file, loaded, total, cached: false });
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      loaded += value.byteLength;
      onProgress({ file, loaded, total, cached: false });
    }
  } else {
    parts.push(new Uint8Array(await res.arrayBuffer()));
    loaded = parts[0].byteLength;
  }
  const blob = new Blob(parts as BlobPart[]);
  onProgress({ file, loaded, total: loaded, cached: false });
  if (cache) {
    try {
      await cache.put(url, new Response(blob, { headers: { "Content-Length": String(blob.size) } }));
    } catch (e) {
      // a full disk or a private window: the model still loads, the next visit downloads again
      console.warn(`not cached (${(e as Error).message}): ${url}`);
    }
  }
  return blob;
}

/** Delete every cached checkpoint; resolves to how many there were. */
export async function clearModelCache(): Promise<number> {
  if (typeof caches === "undefined") return 0;
  const cache = await caches.open(CACHE_NAME);
  const keys = await cache.keys();
  await caches.delete(CACHE_NAME);
  return keys.length;
}
