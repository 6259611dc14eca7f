/**
 * Where images come from: a folder of PNG/JPEG files (Node), the `arr_0`
 * image array of an `.npz` (OpenAI's reference and sample batches: uint8
 * (N, H, W, 3)), or any (async) iterable the caller writes, e.g. a generator
 * that samples a model. Images are RGB in [0, 1], of any size.
 *
 * Folder rules (decided, and documented in the README): like pytorch-fid,
 * files are picked by extension, non-recursively, in sorted order. `.png`,
 * `.jpg` and `.jpeg` are read; other entries (text files, sub-folders) are
 * skipped with one warning that counts them; image files in formats that
 * cannot be decoded here (`.webp`, `.bmp`, `.tif` …) are an error rather than
 * being dropped, since silently evaluating fewer images changes the score;
 * a file with a PNG/JPEG extension that does not decode is an error naming
 * it; a folder without images is an error. A file named `<class>_<i>.png`
 * (or `.jpg`/`.jpeg`), as `nextscale generate --out-dir` writes them, carries
 * its image's class (`3_17.png`: class 3); other names (`uncond_5.png`,
 * `cat.png`) carry none.
 */
import {
  checkNpyDataSize,
  decodeImage,
  type NpyHeader,
  openSource,
  type RgbImage,
  readNpzHeader,
  type SourceInput,
  ZipReader,
} from "@nextscale/core";
import type * as tf from "@tensorflow/tfjs-core";

/** Bad evaluation input (empty folder, unsupported files, wrong arrays): the message says what to do. */
export class EvalInputError extends Error {
  override name = "EvalInputError";
}

/** One image (H, W, 3) or a batch (B, H, W, 3), values in [0, 1]. */
export type ImageLike = RgbImage | tf.Tensor3D | tf.Tensor4D;

/** A named stream of images; `count` (when known) drives progress reports. */
export interface ImageSet {
  name: string;
  count?: number;
  images: AsyncIterable<ImageLike> | Iterable<ImageLike>;
  /**
   * Each image's class, in the order `images` yields them (undefined: the
   * image has none), when known: `imageFolder` sets it from the file names
   * (`labelFromFileName`). Needed for the accuracy on the class asked for.
   */
  labels?: readonly (number | undefined)[];
  /** Each image's file, in the same order, when the images are files (`imageFolder`); errors name them. */
  files?: readonly string[];
}

const READ = new Set(["png", "jpg", "jpeg"]);
const UNSUPPORTED = new Set(["bmp", "gif", "pgm", "ppm", "tif", "tiff", "webp", "avif", "heic"]);
const ext = (name: string) => (/\.([^./\\]+)$/.exec(name)?.[1] ?? "").toLowerCase();

const LABELLED = /^(\d+)_\d+\.(png|jpe?g)$/i;

/**
 * The class a file name carries: `<class>_<i>.png` (or `.jpg`/`.jpeg`, any
 * case), as `nextscale generate --out-dir` names its images, gives `<class>`
 * (`3_17.png` → 3); any other name (`uncond_5.png`, the unconditional ones;
 * `cat.png`) gives undefined. A path is read by its last part.
 */
export function labelFromFileName(file: string): number | undefined {
  const m = LABELLED.exec(file.slice(Math.max(file.lastIndexOf("/"), file.lastIndexOf("\\")) + 1));
  return m ? Number(m[1]) : undefined;
}

async function nodeFs() {
  try {
    return { fs: await import("node:fs/promises"), path: await import("node:path") };
  } catch {
    throw new EvalInputError("reading image folders needs Node.js; in the browser pass images from a generator");
  }
}

/** The PNG/JPEG files of a folder (sorted) and the entries skipped. */
export async function listImageFiles(dir: string): Promise<{ files: string[]; skipped: string[] }> {
  const { fs, path } = await nodeFs();
  let entries: import("node:fs").Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT") throw new EvalInputError(`${dir}: no such folder`);
    if (code === "ENOTDIR") throw new EvalInputError(`${dir}: not a folder`);
    throw e;
  }
  const files: string[] = [];
  const skipped: string[] = [];
  const unsupported: string[] = [];
  for (const e of entries) {
    const isFile = e.isFile() || (e.isSymbolicLink() && (await fs.stat(path.join(dir, e.name)).catch(() => null))?.isFile());
    if (isFile && READ.has(ext(e.name))) files.push(path.join(dir, e.name));
    else if (isFile && UNSUPPORTED.has(ext(e.name))) unsupported.push(e.name);
    else skipped.push(e.isDirectory() ? `${e.name}/` : e.name);
  }
  if (unsupported.length) {
    throw new EvalInputError(
      `${dir}: ${unsupported.length} image file(s) in a format that cannot be read here (${unsupported.slice(0, 3).join(", ")}${unsupported.length > 3 ? ", …" : ""}); only PNG and JPEG are supported: convert them, or move them out of the folder`,
    );
  }
  if (!files.length) {
    throw new EvalInputError(
      `${dir}: no PNG or JPEG images found${skipped.length ? ` (${skipped.length} other entr${skipped.length === 1 ? "y" : "ies"}: ${skipped.slice(0, 3).join(", ")}${skipped.length > 3 ? ", …" : ""})` : " (the folder is empty)"}`,
    );
  }
  files.sort();
  skipped.sort();
  return { files, skipped };
}

/**
 * The images of a folder, decoded one at a time, with their files and the
 * classes their names carry (`labels`). `onWarning` hears about skipped entries.
 */
export async function imageFolder(dir: string, opts: { onWarning?: (message: string) => void } = {}): Promise<ImageSet> {
  const { files, skipped } = await listImageFiles(dir);
  if (skipped.length) {
    opts.onWarning?.(
      `${dir}: skipping ${skipped.length} ${skipped.length === 1 ? "entry that is not a PNG/JPEG file" : "entries that are not PNG/JPEG files"} (${skipped.slice(0, 3).join(", ")}${skipped.length > 3 ? ", …" : ""})`,
    );
  }
  const { fs } = await nodeFs();
  async function* images(): AsyncGenerator<RgbImage> {
    for (const f of files) yield decodeImage(new Uint8Array(await fs.readFile(f)), f);
  }
  return { name: dir, count: files.length, images: images(), labels: files.map(labelFromFileName), files };
}

/**
 * The images of an `.npz`'s `arr_0` (uint8 (N, H, W, 3), as OpenAI's
 * reference and sample batches store them), read a few at a time with
 * ranged reads, so a 10,000-image reference batch is never held in memory.
 */
export async function npzImages(input: SourceInput, key = "arr_0"): Promise<ImageSet> {
  const source = await openSource(input);
  const zip = await ZipReader.open(source);
  const entry = zip.entries.get(`${key}.npy`);
  if (!entry) {
    await source.close();
    throw new EvalInputError(`${source.name}: no "${key}" image array`);
  }
  let h: NpyHeader;
  try {
    h = await readNpzHeader(zip, entry, `${source.name}:${key}`);
    checkNpyDataSize(h, entry.size - h.dataOffset, `${source.name}:${key}`);
  } catch (e) {
    await source.close();
    throw e;
  }
  const [N, H, W, C] = h.shape;
  if (h.shape.length !== 4 || C !== 3 || h.dtype !== "uint8" || h.fortran) {
    await source.close();
    throw new EvalInputError(
      `${source.name}: "${key}" is ${h.dtype} [${h.shape}]${h.fortran ? " (Fortran order)" : ""}; expected uint8 images (N, H, W, 3) in C order`,
    );
  }
  const per = H * W * 3;
  let inflated: Uint8Array | undefined;
  async function* images(): AsyncGenerator<RgbImage> {
    try {
      const chunk = Math.max(1, Math.floor((8 << 20) / per));
      for (let i = 0; i < N; i += chunk) {
        const k = Math.min(chunk, N - i);
        // stored: ranged reads; deflated: the entry inflated once (ZipReader stops at its declared size)
        if (entry!.method !== 0 && !inflated) inflated = await zip.read(entry!);
        const bytes = inflated
          ? inflated.subarray(h.dataOffset + i * per, h.dataOffset + (i + k) * per)
          : await zip.readRange(entry!, h.dataOffset + i * per, k * per);
        for (let j = 0; j < k; j++) {
          const data = new Float32Array(per);
          const o = j * per;
          for (let q = 0; q < per; q++) data[q] = bytes[o + q] / 255;
          yield { width: W, height: H, data };
        }
      }
    } finally {
      await source.close();
    }
  }
  return { name: `${source.name}:${key}`, count: N, images: images() };
}
