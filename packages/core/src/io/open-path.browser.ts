/** Browser: there is no file system; pass a File, a Blob, bytes or a URL. */
import { type ByteSource, CheckpointFormatError } from "./source.js";

export async function openPath(path: string): Promise<ByteSource> {
  throw new CheckpointFormatError(
    `cannot open "${path}" by path in the browser: pass a File, Blob, ArrayBuffer or an http(s) URL instead`,
  );
}
