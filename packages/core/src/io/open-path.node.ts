/** Node: a file on disk read with positioned reads; never loaded whole. */
import { open } from "node:fs/promises";
import { type ByteSource, CheckpointFormatError, checkRange } from "./source.js";

export async function openPath(path: string): Promise<ByteSource> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointFormatError(
      code === "ENOENT" ? `no such file: ${path}` : `cannot open ${path}: ${(e as Error).message}`,
    );
  }
  const st = await fh.stat();
  if (st.isDirectory()) {
    await fh.close();
    throw new CheckpointFormatError(`${path} is a directory, not a checkpoint file`);
  }
  let closed = false;
  const src: ByteSource = {
    name: path,
    size: st.size,
    async read(offset, length) {
      checkRange(src, offset, length);
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) throw new CheckpointFormatError(`${path}: file shrank while reading`);
        done += bytesRead;
      }
      return buf;
    },
    async close() {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    },
  };
  return src;
}
