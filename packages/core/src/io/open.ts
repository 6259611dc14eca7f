/**
 * `openSource`: the single entry point that turns whatever the user has
 * (a path in Node, a URL, bytes, a Blob/File) into a random-access source.
 */
import { openPath } from "#open-path";
import { BlobSource, type ByteSource, BufferSource, openUrl, type UrlSourceOptions } from "./source.js";

export type SourceInput = string | URL | ArrayBuffer | ArrayBufferView | Blob | ByteSource;

function isByteSource(x: unknown): x is ByteSource {
  return typeof x === "object" && x !== null && "read" in x && "size" in x && "close" in x;
}

export async function openSource(input: SourceInput, opts: UrlSourceOptions = {}): Promise<ByteSource> {
  if (isByteSource(input)) return input;
  if (typeof input === "string" && /^https?:\/\//i.test(input)) return openUrl(input, opts);
  if (input instanceof URL) {
    if (input.protocol === "file:") return openPath(decodeURIComponent(input.pathname));
    return openUrl(input.href, opts);
  }
  if (typeof input === "string") return openPath(input);
  if (input instanceof ArrayBuffer || ArrayBuffer.isView(input)) return new BufferSource(input);
  if (typeof Blob !== "undefined" && input instanceof Blob) return new BlobSource(input);
  throw new TypeError(`openSource: unsupported input ${Object.prototype.toString.call(input)}`);
}
