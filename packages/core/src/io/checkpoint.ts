/**
 * `openCheckpoint`: open any supported tensor file by content, not by file
 * extension: PyTorch zip `.pth`, safetensors, `.npz` and `.npy`.
 */
import { NPY_MAGIC, openNpy, openNpz } from "./npy.js";
import { type SourceInput, openSource } from "./open.js";
import { openPth } from "./pth.js";
import { openSafetensors } from "./safetensors.js";
import { CheckpointFormatError, quoted, type UrlSourceOptions } from "./source.js";
import type { TensorStore } from "./store.js";
import { type ZipEntry, ZipReader } from "./zip.js";

export type OpenOptions = UrlSourceOptions;

export async function openCheckpoint(input: SourceInput, opts: OpenOptions = {}): Promise<TensorStore> {
  const source = await openSource(input, opts);
  try {
    if (source.size === 0) throw new CheckpointFormatError(`${source.name}: empty file`);
    const head = await source.read(0, Math.min(source.size, 16));
    if (head[0] === 0x50 && head[1] === 0x4b) {
      const zip = await ZipReader.open(source);
      const layout = zipLayout(source.name, [...zip.entries.values()]);
      return layout === "pth" ? await openPth(source) : await openNpz(source);
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

/** What `torch.save` writes beside `data.pkl` and the `data/<key>` storages (torch 1.6 to 2.x). */
const TORCH_RECORDS = new Set(["data.pkl", "byteorder", "version", ".format_version", ".storage_alignment"]);

function isTorchRecord(relative: string): boolean {
  return TORCH_RECORDS.has(relative) || /^data\/[^/]+$/.test(relative) || /^\.data\/[^/]+$/.test(relative);
}

function listed(names: string[], max = 4): string {
  const head = names.slice(0, max).map((n) => quoted(n, 80));
  return names.length > max ? `${head.join(", ")} and ${names.length - max} more` : head.join(", ");
}

/**
 * Tell a PyTorch checkpoint from an `.npz` by the archive's structure, not
 * by one name: a torch checkpoint is one top folder (any name) holding
 * `data.pkl`, its `data/<key>` storages and the small records `torch.save`
 * adds (`byteorder`, `version`, `.format_version`, `.storage_alignment`,
 * `.data/serialization_id`); an `.npz` holds only `<key>.npy` arrays, as
 * `numpy.savez` writes them. Anything else, mixed or neither, is an error
 * naming what the archive holds.
 */
export function zipLayout(name: string, entries: ZipEntry[]): "pth" | "npz" {
  const folders = entries.filter((e) => e.name.endsWith("/") && e.size === 0).map((e) => e.name);
  const files = entries.filter((e) => !(e.name.endsWith("/") && e.size === 0)).map((e) => e.name);
  const npy = files.filter((n) => n.endsWith(".npy"));
  const pkl = files.filter((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
  if (pkl.length && npy.length) {
    throw new CheckpointFormatError(
      `${name}: a zip archive that mixes a PyTorch pickle (${listed(pkl)}) with NumPy arrays (${listed(npy)}): neither a PyTorch checkpoint nor an .npz`,
    );
  }
  if (pkl.length) {
    if (pkl.length > 1) {
      throw new CheckpointFormatError(`${name}: a zip archive with ${pkl.length} data.pkl (${listed(pkl)}): a PyTorch checkpoint has exactly one`);
    }
    const prefix = pkl[0].slice(0, -"data.pkl".length); // "<top>/" or "" (no top folder)
    if (prefix.slice(0, -1).includes("/")) {
      throw new CheckpointFormatError(
        `${name}: ${quoted(pkl[0])} is not in the archive's top folder: a PyTorch checkpoint is <top>/data.pkl and <top>/data/<key>`,
      );
    }
    const stray = files.filter((n) => !n.startsWith(prefix) || !isTorchRecord(n.slice(prefix.length)));
    stray.push(...folders.filter((f) => !f.startsWith(prefix) && f !== prefix));
    if (stray.length) {
      throw new CheckpointFormatError(
        `${name}: a PyTorch checkpoint (${quoted(pkl[0])}) with entries torch.save does not write: ${listed(stray)} (expected ${quoted(prefix)} + data.pkl, data/<key>, byteorder, version, .format_version, .storage_alignment, .data/…)`,
      );
    }
    return "pth";
  }
  if (npy.length) {
    const other = files.filter((n) => !n.endsWith(".npy"));
    if (other.length) {
      throw new CheckpointFormatError(
        `${name}: a zip archive with NumPy arrays (${listed(npy)}) and other entries (${listed(other)}): an .npz holds only <key>.npy arrays`,
      );
    }
    return "npz";
  }
  throw new CheckpointFormatError(
    `${name}: a zip archive that is neither a PyTorch checkpoint nor an .npz: ${files.length ? `it holds ${listed(files)}` : "it holds no files"} (a PyTorch checkpoint is one top folder with data.pkl and data/<key>; an .npz holds <key>.npy arrays)`,
  );
}
