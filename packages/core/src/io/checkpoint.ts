/**
 * `openCheckpoint`: open any supported tensor file by content, not by file
 * extension: PyTorch zip `.pth`, safetensors, `.npz` and `.npy`.
 */
import { NPY_MAGIC, openNpy, openNpz } from "./npy.js";
import { type SourceInput, openSource } from "./open.js";
import { openPth } from "./pth.js";
import { openSafetensors } from "./safetensors.js";
import { CheckpointFormatError, type UrlSourceOptions } from "./source.js";
import type { TensorStore } from "./store.js";
import { ZipReader } from "./zip.js";

export type OpenOptions = UrlSourceOptions;

export async function openCheckpoint(input: SourceInput, opts: OpenOptions = {}): Promise<TensorStore> {
  const source = await openSource(input, opts);
  try {
    if (source.size === 0) throw new CheckpointFormatError(`${source.name}: empty file`);
    const head = await source.read(0, Math.min(source.size, 16));
    if (head[0] === 0x50 && head[1] === 0x4b) {
      // A zip: a torch checkpoint has data.pkl, an npz has .npy members.
      const zip = await ZipReader.open(source);
      const names = [...zip.entries.keys()];
      if (names.some((n) => n.endsWith("data.pkl"))) return await openPth(source);
      if (names.some((n) => n.endsWith(".npy"))) return await openNpz(source);
      throw new CheckpointFormatError(`${source.name}: a zip archive that is neither a PyTorch checkpoint nor an .npz`);
    }
    if (NPY_MAGIC.every((b, i) => head[i] === b)) return await openNpy(source);
    if (head[0] === 0x80) return await openPth(source); // a bare pickle: openPth explains legacy files
    if (head.length >= 9 && head[8] === 0x7b /* '{' */) return await openSafetensors(source);
    throw new CheckpointFormatError(
      `${source.name}: unrecognised file format (expected a PyTorch .pth, .safetensors, .npz or .npy file)`,
    );
  } catch (e) {
    await source.close();
    throw e;
  }
}
