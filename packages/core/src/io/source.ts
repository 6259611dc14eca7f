/**
 * Random-access byte sources: the one abstraction every checkpoint reader
 * uses, so a reader never needs the whole file in memory. A source is an
 * in-memory buffer, a browser Blob/File, an HTTP(S) URL read with Range
 * requests, or (in Node) a file opened by path (see `open-path.node.ts`).
 */

/** Progress of a long read: bytes done so far and the total when known. */
export interface Progress {
  loaded: number;
  total: number | undefined;
}
export type ProgressCallback = (p: Progress) => void;

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A human-readable name for error messages (path, URL or "buffer"). */
  readonly name: string;
  /**
   * Read `length` bytes at `offset`. Reading past the end is an error,
   * never a short read, so truncated files fail loudly.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Release file handles. Safe to call twice. */
  close(): Promise<void>;
}

/** Raised for every malformed or unsupported file: one class to catch. */
export class CheckpointFormatError extends Error {
  override name = "CheckpointFormatError";
}

/** How much of any text taken from a file goes into an error message. */
export const MESSAGE_CAP = 200;

/** A name or text from a file, quoted and cut to a bounded length, for an error message. */
export function quoted(value: string, cap = MESSAGE_CAP): string {
  if (value.length <= cap) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, cap))}… (${value.length} characters)`;
}

export function checkRange(src: { size: number; name: string }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new CheckpointFormatError(`${src.name}: invalid read of ${length} bytes at offset ${offset}`);
  }
  if (offset + length > src.size) {
    throw new CheckpointFormatError(
      `${src.name}: file is truncated or corrupt (needs bytes ${offset}..${offset + length} but has ${src.size})`,
    );
  }
}

export class BufferSource implements ByteSource {
  readonly size: number;
  private readonly bytes: Uint8Array;
  constructor(
    data: ArrayBuffer | ArrayBufferView,
    readonly name = "buffer",
  ) {
    this.bytes =
      data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.size = this.bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
  async close(): Promise<void> {}
}

/** A browser `Blob` or `File`: each read slices only the bytes it needs. */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(private readonly blob: Blob) {
    this.size = blob.size;
    this.name = (blob as { name?: string }).name ?? "blob";
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
  async close(): Promise<void> {}
}

export interface UrlSourceOptions {
  /** Called as the download advances (only when the whole file is fetched). */
  onProgress?: ProgressCallback;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
}

/**
 * Open a URL. If the server honours Range requests (HTTP 206 with a
 * Content-Range size), reads are ranged and nothing else is downloaded;
 * otherwise the body is streamed once into memory with progress.
 */
export async function openUrl(url: string, opts: UrlSourceOptions = {}): Promise<ByteSource> {
  const f = opts.fetch ?? globalThis.fetch;
  if (!f) throw new CheckpointFormatError(`cannot open ${url}: no fetch() in this environment`);
  const probe = await f(url, { headers: { ...opts.headers, Range: "bytes=0-0" } });
  const cr = probe.headers.get("content-range");
  const total = cr ? Number(cr.split("/")[1]) : Number.NaN;
  if (probe.status === 206 && Number.isSafeInteger(total)) {
    await probe.body?.cancel();
    return new RangeUrlSource(url, total, f, opts.headers ?? {});
  }
  if (!probe.ok) throw new CheckpointFormatError(`cannot open ${url}: HTTP ${probe.status} ${probe.statusText}`);
  const bytes = await readBody(probe, opts.onProgress);
  return new BufferSource(bytes, url);
}

async function readBody(res: Response, onProgress?: ProgressCallback): Promise<Uint8Array> {
  const lenHeader = res.headers.get("content-length");
  const total = lenHeader ? Number(lenHeader) : undefined;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  // Preallocate when the size is known so the body is never held twice.
  let out = new Uint8Array(total ?? 1 << 20);
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > out.byteLength) {
      const grown = new Uint8Array(Math.max(out.byteLength * 2, loaded + value.byteLength));
      grown.set(out.subarray(0, loaded));
      out = grown;
    }
    out.set(value, loaded);
    loaded += value.byteLength;
    onProgress?.({ loaded, total });
  }
  return out.subarray(0, loaded);
}

class RangeUrlSource implements ByteSource {
  constructor(
    readonly name: string,
    readonly size: number,
    private readonly f: typeof fetch,
    private readonly headers: Record<string, string>,
  ) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    if (length === 0) return new Uint8Array(0);
    const res = await this.f(this.name, {
      headers: { ...this.headers, Range: `bytes=${offset}-${offset + length - 1}` },
    });
    if (res.status !== 206) throw new CheckpointFormatError(`${this.name}: range request failed (HTTP ${res.status})`);
    const buf = new Uint8Array(await res.arrayBuffer());
    if (buf.byteLength !== length) {
      throw new CheckpointFormatError(`${this.name}: short range response (${buf.byteLength} of ${length} bytes)`);
    }
    return buf;
  }
  async close(): Promise<void> {}
}
