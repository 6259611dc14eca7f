/**
 * Node: the model cache (`NEXTSCALE_CACHE`, default `~/.cache/nextscale`) and
 * the downloader: `<file>.part` continued with Range requests, SHA-256
 * checked against every hash stated for the file, then renamed into place.
 * Nothing here runs unless asked: `resolveModel` only downloads with
 * `download: true`.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { link, mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import {
  fileNameHashPrefix,
  ModelDownloadError,
  type ModelUrlOptions,
  ModelNotCachedError,
  type OfficialModel,
  OFFICIAL_MODELS,
  officialModel,
  officialModelUrl,
} from "./registry.js";

export interface CacheOptions {
  /** The cache folder (default {@link modelCacheDir}()). */
  cacheDir?: string;
}

/** Bytes received so far of one file (`loaded` counts a resumed part too). */
export interface DownloadProgress {
  file: string;
  loaded: number;
  /** The file's size when the server states it. */
  total: number | undefined;
  /** Bytes that were already in `<file>.part` when this download started. */
  resumedFrom: number;
}

export interface DownloadFileOptions {
  /** The expected SHA-256 (hex), when it is known beforehand. */
  sha256?: string;
  /** The expected first hex digits of the SHA-256 (torch hub's `name-<hex>.pth`). */
  sha256Prefix?: string;
  /** Called as bytes arrive (at most every 100 ms, and once at the end). */
  onProgress?: (p: DownloadProgress) => void;
  /** Start over even when a `.part` exists. */
  restart?: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** What a finished download was checked against. */
export interface IntegrityCheck {
  /** `sha256`: a full hash matched; `prefix`: only a file name's hash prefix; `none`: nothing was stated. */
  kind: "sha256" | "prefix" | "none";
  /** Where each expected hash came from, e.g. "the server's X-Linked-Etag". */
  against: string[];
}

export interface DownloadFileResult {
  path: string;
  bytes: number;
  sha256: string;
  check: IntegrityCheck;
  resumedFrom: number;
}

export interface DownloadModelOptions extends CacheOptions, ModelUrlOptions, Omit<DownloadFileOptions, "sha256" | "sha256Prefix" | "restart"> {
  /** Download again even when the file is cached (the cached file is replaced only once the new one is verified). */
  force?: boolean;
}

/** A downloaded file (`alreadyCached: false`, with its checks), or one that was in the cache already (nothing was downloaded). */
export type DownloadModelResult = { model: OfficialModel; path: string; url: string } & (
  | { alreadyCached: true }
  | ({ alreadyCached: false } & DownloadFileResult)
);

export interface ResolveModelOptions extends DownloadModelOptions {
  /** Download a known name that is not cached yet (default false: a `ModelNotCachedError`). */
  download?: boolean;
}

/** One official file and its state in the cache. */
export interface CacheEntry {
  model: OfficialModel;
  path: string;
  /** Size of the cached file; undefined when it is not cached. */
  bytes?: number;
  /** Size of a partial download (`<file>.part`) waiting to be resumed. */
  partialBytes?: number;
}

const env = (name: string) => process.env[name] || undefined;

/** `NEXTSCALE_CACHE`, else `$XDG_CACHE_HOME/nextscale`, else `~/.cache/nextscale`. */
export function modelCacheDir(): string {
  return env("NEXTSCALE_CACHE") ?? join(env("XDG_CACHE_HOME") ?? join(homedir(), ".cache"), "nextscale");
}

function fileSize(path: string): number | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

function known(name: string): OfficialModel {
  const model = officialModel(name);
  if (!model) throw new ModelDownloadError(`unknown model "${name}" (known: ${Object.keys(OFFICIAL_MODELS).join(", ")})`);
  return model;
}

/** The cached file of a name, or undefined when it is not downloaded. */
export function cachedModelPath(name: string, opts: CacheOptions = {}): string | undefined {
  const path = join(opts.cacheDir ?? modelCacheDir(), known(name).file);
  return fileSize(path) === undefined ? undefined : path;
}

/** Every official file: where it is cached, its size, a partial download. */
export function modelCacheStatus(opts: CacheOptions = {}): CacheEntry[] {
  const dir = opts.cacheDir ?? modelCacheDir();
  return Object.values(OFFICIAL_MODELS).map((model) => {
    const path = join(dir, model.file);
    return { model, path, bytes: fileSize(path), partialBytes: fileSize(`${path}.part`) };
  });
}

/**
 * A checkpoint argument as the user gave it, or the cached file of a known
 * name (`var-d16`, `vae`, `inception`, or a published file name such as
 * `var_d16.pth`). An existing file of that name wins over the name; paths and
 * URLs come back unchanged. A known name that is not cached is a
 * `ModelNotCachedError` naming the `nextscale download` command, unless
 * `download: true`.
 */
export async function resolveModel(input: string, opts: ResolveModelOptions = {}): Promise<string> {
  const model = officialModel(input);
  if (!model || fileSize(input) !== undefined) return input;
  const dir = opts.cacheDir ?? modelCacheDir();
  const path = join(dir, model.file);
  if (fileSize(path) !== undefined) return path;
  if (opts.download) return (await downloadModel(model.name, { ...opts, cacheDir: dir })).path;
  throw new ModelNotCachedError(model, dir);
}

/**
 * Download an official file into the cache (resuming a partial download),
 * verify it, and return where it is. A file already cached is not
 * downloaded again unless `force`.
 */
export async function downloadModel(name: string, opts: DownloadModelOptions = {}): Promise<DownloadModelResult> {
  const model = known(name);
  const path = join(opts.cacheDir ?? modelCacheDir(), model.file);
  const url = officialModelUrl(model, opts);
  if (!opts.force && fileSize(path) !== undefined) return { model, path, url, alreadyCached: true };
  const r = await downloadFile(url, path, {
    ...opts,
    sha256: model.sha256,
    sha256Prefix: fileNameHashPrefix(model.file),
    restart: opts.force,
  });
  return { model, url, alreadyCached: false as const, ...r };
}

const HEX64 = /^[0-9a-f]{64}$/;

/** `"abc…"` / `W/"abc…"` -> `abc…` when it is a SHA-256 (64 hex digits), else undefined. */
function sha256Etag(value: string | null): string | undefined {
  const v = value?.trim().replace(/^W\//, "").replace(/^"|"$/g, "").toLowerCase();
  return v && HEX64.test(v) ? v : undefined;
}

interface Answer {
  res: Response;
  url: string;
  /** The hub's `X-Linked-Etag` (a LFS file's SHA-256), seen on any hop before the CDN. */
  linkedSha256?: string;
  linkedSize?: number;
}

/**
 * GET with redirects followed by hand, as huggingface_hub does: the hub
 * states an LFS file's SHA-256 and size (`X-Linked-Etag`, `X-Linked-Size`)
 * on its 302, not on the CDN's answer (whose own ETag is something else).
 */
async function get(f: typeof fetch, url: string, offset: number, signal: AbortSignal | undefined, file: string): Promise<Answer> {
  let current = url;
  let linkedSha256: string | undefined;
  let linkedSize: number | undefined;
  for (let hop = 0; hop < 10; hop++) {
    let res: Response;
    try {
      res = await f(current, {
        redirect: "manual",
        signal,
        headers: { "Accept-Encoding": "identity", ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}) },
      });
    } catch (e) {
      throw new ModelDownloadError(`cannot download ${file} from ${where(url, current)}: ${causeOf(e)}`);
    }
    linkedSha256 ??= sha256Etag(res.headers.get("x-linked-etag"));
    const size = Number(res.headers.get("x-linked-size") ?? Number.NaN);
    if (linkedSize === undefined && Number.isSafeInteger(size)) linkedSize = size;
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      current = new URL(location, current).href;
      continue;
    }
    return { res, url: current, linkedSha256, linkedSize };
  }
  throw new ModelDownloadError(`cannot download ${file} from ${url}: more than 10 redirects`);
}

/** The URL asked for, and the host it was redirected to (a CDN's signed URLs are too long for a message). */
function where(url: string, current: string): string {
  const host = new URL(current).host;
  return host === new URL(url).host ? url : `${url} (redirected to ${host})`;
}

function causeOf(e: unknown): string {
  const err = e as Error & { cause?: Error & { code?: string } };
  const cause = err.cause ? ` (${err.cause.code ?? err.cause.message})` : "";
  return `${err.message}${cause}`;
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/**
 * Download `url` to `dest`: the bytes go to `dest.part` (continued with
 * `Range: bytes=N-` when a part exists and the server answers 206; started
 * over on 200), are hashed as they arrive, checked against every expected
 * SHA-256 (`sha256`, the server's `X-Linked-Etag`, `sha256Prefix`), and the
 * part is renamed to `dest`. A dropped connection keeps the part for the
 * next call; a hash mismatch removes it. One download of a file at a time:
 * a second, in this process or another, while `dest.lock` is held is a
 * `ModelDownloadError` naming the process that holds it.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadFileOptions = {}): Promise<DownloadFileResult> {
  const file = dest.split(/[\\/]/).pop()!;
  await mkdir(dirname(dest), { recursive: true });
  const lock = `${dest}.lock`;
  await takeLock(lock, file);
  try {
    return await download(url, dest, file, opts);
  } finally {
    await rm(lock, { force: true });
  }
}

/**
 * One download of a file at a time (two would append to the same `.part`):
 * `<file>.lock` holding the process id, made atomically (the id is written
 * to a file of this process's own, then hard-linked to the lock's name,
 * which fails when the lock exists). A lock whose process is gone (killed
 * mid-download) is taken over. Where hard links are missing the lock is
 * created exclusively and the id written after: a lock without an id is
 * taken as one being created for `LOCK_SETTLE_MS`, and as a leftover after.
 */
let lockCalls = 0;
/** How long a lock without a process id is taken as one being created (its id not yet written). */
export const LOCK_SETTLE_MS = 10_000;
async function takeLock(lock: string, file: string): Promise<void> {
  const mine = `${lock}.${process.pid}.${++lockCalls}`; // this call's own (two downloads in one process each have one)
  await writeFile(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await linkOrCreate(mine, lock);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const text = await readFile(lock, "utf8").catch(() => undefined);
      if (text === undefined) continue; // removed meanwhile: try again
      const pid = Number.parseInt(text, 10);
      if (Number.isSafeInteger(pid) && pid > 0 && processAlive(pid)) {
        throw new ModelDownloadError(
          `another download of ${file} is in progress (process ${pid}, lock ${lock}): wait for it to finish; if that process is not downloading, remove the lock`,
        );
      }
      if (!(Number.isSafeInteger(pid) && pid > 0)) {
        // no id yet: on a file system without hard links a lock is created first and its id written next;
        // only one that has stayed without an id for LOCK_SETTLE_MS is a leftover
        const age = Date.now() - ((await stat(lock).catch(() => undefined))?.mtimeMs ?? 0);
        if (age < LOCK_SETTLE_MS) {
          throw new ModelDownloadError(`another download of ${file} is starting (lock ${lock}, created ${Math.max(0, Math.round(age))} ms ago): wait for it to finish`);
        }
      }
      await rm(lock, { force: true }); // stale: its process is gone, or it never got an id
    }
    throw new ModelDownloadError(`cannot take the lock ${lock} for ${file}: other processes keep taking it; try again`);
  } finally {
    await rm(mine, { force: true });
  }
}

/** Hard-link `from` to `to`; on a file system without hard links, create `to` exclusively and write the id into it. */
async function linkOrCreate(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOENT") throw e;
    const h = await open(to, "wx");
    try {
      await h.writeFile(`${process.pid}\n`);
    } finally {
      await h.close();
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by another user
  }
}

async function download(url: string, dest: string, file: string, opts: DownloadFileOptions): Promise<DownloadFileResult> {
  const f = opts.fetch ?? globalThis.fetch;
  const part = `${dest}.part`;
  if (opts.restart) await rm(part, { force: true });
  let offset = fileSize(part) ?? 0;
  let { res, url: from, linkedSha256, linkedSize } = await get(f, url, offset, opts.signal, file);
  let total: number | undefined;
  if (res.status === 416 && offset > 0) {
    // the part is as long as the file, or longer (a file replaced upstream): check it, or start over
    await res.body?.cancel();
    const t = Number(res.headers.get("content-range")?.match(/\/(\d+)$/)?.[1] ?? linkedSize ?? Number.NaN);
    if (t === offset) total = offset;
    else {
      await rm(part, { force: true });
      offset = 0;
      ({ res, url: from, linkedSha256, linkedSize } = await get(f, url, 0, opts.signal, file));
    }
  }
  const hash = createHash("sha256");
  let loaded = offset;
  if (total === undefined) {
    if (res.status === 206) {
      const m = res.headers.get("content-range")?.match(/^bytes (\d+)-\d+\/(\d+|\*)$/);
      if (!m || Number(m[1]) !== offset) {
        await res.body?.cancel();
        throw new ModelDownloadError(`cannot resume ${file} from ${where(url, from)}: asked for bytes ${offset}- and got ${res.headers.get("content-range") ?? "no Content-Range"}`);
      }
      total = m[2] === "*" ? linkedSize : Number(m[2]);
    } else if (res.ok) {
      // 200: the whole file (a server that ignores Range): start over
      offset = 0;
      loaded = 0;
      const len = Number(res.headers.get("content-length") ?? Number.NaN);
      total = Number.isSafeInteger(len) ? len : linkedSize;
    } else {
      await res.body?.cancel();
      throw new ModelDownloadError(`cannot download ${file} from ${where(url, from)}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
    }
    if (offset > 0) await hashFile(part, hash);
    const out = await open(part, offset > 0 ? "a" : "w");
    let last = 0;
    const report = (force: boolean) => {
      const now = Date.now();
      if (!opts.onProgress || (!force && now - last < 100)) return;
      last = now;
      opts.onProgress({ file, loaded, total, resumedFrom: offset });
    };
    report(true);
    try {
      if (res.body) {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          hash.update(chunk);
          await out.write(chunk);
          loaded += chunk.byteLength;
          report(false);
        }
      }
    } catch (e) {
      await out.close();
      throw new ModelDownloadError(
        `download of ${file} from ${where(url, from)} interrupted after ${loaded}${total === undefined ? "" : ` of ${total}`} bytes (${causeOf(e)}): the partial file ${part} is kept; run the same download again to resume`,
      );
    }
    await out.close();
    if (total !== undefined && loaded < total) {
      throw new ModelDownloadError(
        `download of ${file} from ${where(url, from)} ended after ${loaded} of ${total} bytes: the partial file ${part} is kept; run the same download again to resume`,
      );
    }
    report(true);
  } else {
    await hashFile(part, hash);
  }
  const bytes = (await stat(part)).size;
  if (total !== undefined && bytes !== total) {
    await rm(part, { force: true });
    throw new ModelDownloadError(`${file}: the download has ${bytes} bytes but the server states ${total}; removed ${part}`);
  }
  if (linkedSize !== undefined && bytes !== linkedSize) {
    await rm(part, { force: true });
    throw new ModelDownloadError(`${file}: the download has ${bytes} bytes but the server's X-Linked-Size states ${linkedSize}; removed ${part}`);
  }
  const sha256 = hash.digest("hex");
  const expected: [string, string][] = [];
  if (opts.sha256) expected.push(["the known SHA-256 of this file", opts.sha256.toLowerCase()]);
  if (linkedSha256) expected.push(["the server's X-Linked-Etag", linkedSha256]);
  const prefix = opts.sha256Prefix?.toLowerCase();
  const again = offset > 0 ? " (it continued an earlier partial download: run the download again to start over)" : "";
  for (const [source, want] of expected) {
    if (want !== sha256) {
      await rm(part, { force: true });
      throw new ModelDownloadError(`${file}: SHA-256 mismatch: ${source} states ${want}, but the downloaded file's SHA-256 is ${sha256}; the download was removed${again}`);
    }
  }
  if (prefix && !sha256.startsWith(prefix)) {
    await rm(part, { force: true });
    throw new ModelDownloadError(
      `${file}: SHA-256 mismatch: the file name states the hash prefix ${prefix} (torch hub's convention), but the downloaded file's SHA-256 is ${sha256}; the download was removed${again}`,
    );
  }
  await rename(part, dest);
  const against = [...expected.map(([s]) => s), ...(prefix ? [`the hash prefix ${prefix} in the file name`] : [])];
  const check: IntegrityCheck = { kind: expected.length ? "sha256" : prefix ? "prefix" : "none", against };
  return { path: dest, bytes, sha256, check, resumedFrom: offset };
}
