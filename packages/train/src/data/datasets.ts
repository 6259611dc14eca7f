/**
 * Image classification datasets: items are 8-bit RGB images (gray images
 * replicated to 3 channels) with integer labels.
 *
 * - `IdxDataset`: an MNIST / Fashion-MNIST pair of IDX files (images
 *   [N, H, W] uint8, labels [N] uint8), gzip or not.
 * - `ImageFolderDataset`: one subfolder per class (the ImageNet layout of
 *   torchvision's `DatasetFolder`, which the official `utils/data.py` uses):
 *   classes are the subfolder names sorted, labels their indices; each class
 *   folder is walked recursively in the order of `sorted(os.walk(…))` (its
 *   folders by full path, each folder's files sorted), keeping files whose
 *   lower-cased names end with an image extension. PNG and JPEG are decoded (core's
 *   `decodeImage`); a file with another of torchvision's image extensions
 *   (.ppm .bmp .pgm .tif .tiff .webp) is an error, as is a class folder with
 *   no image (torchvision raises for those too).
 */
import { decodeImage, ImageFormatError, type Rgb8Image } from "@nextscale/core";
import { nodeFileTree } from "#file-tree";
import { DatasetError } from "./errors.js";
import type { FileTree } from "./file-tree.js";
import { readIdx } from "./idx.js";

export interface ImageDataset {
  readonly length: number;
  readonly numClasses: number;
  /** Class names by label, where the dataset has them. */
  readonly classNames?: readonly string[];
  /** Item i's label (no decoding). */
  label(i: number): number;
  /** Item i as 8-bit RGB. */
  image(i: number): Promise<Rgb8Image>;
  /** A name for item i in messages (a file path, or "images.idx[7]"). */
  itemName(i: number): string;
}

function checkIndex(ds: ImageDataset, i: number): void {
  if (!(Number.isInteger(i) && i >= 0 && i < ds.length)) throw new RangeError(`item ${i} out of range [0, ${ds.length})`);
}

/** Fashion-MNIST's class names (Zalando's labels 0–9). */
export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"] as const;

export interface IdxDatasetOptions {
  /** Class names (e.g. FASHION_MNIST_CLASSES); the class count defaults to their number, else max label + 1. */
  classNames?: readonly string[];
  /** Names for messages. */
  imagesName?: string;
  labelsName?: string;
  /** Where paths are read from (Node: the file system). */
  files?: FileTree;
}

export class IdxDataset implements ImageDataset {
  readonly length: number;
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  private constructor(
    readonly height: number,
    readonly width: number,
    private readonly pixels: Uint8Array,
    readonly labels: Uint8Array,
    private readonly name: string,
    classNames?: readonly string[],
  ) {
    this.length = labels.length;
    this.classNames = classNames;
    let max = -1;
    for (const l of labels) max = Math.max(max, l);
    this.numClasses = classNames?.length ?? max + 1;
    if (classNames && max >= classNames.length) throw new DatasetError(`${name}: label ${max} but ${classNames.length} class names`);
  }

  /** From the bytes of an images file and a labels file (gzip or not). */
  static async fromBytes(images: Uint8Array, labels: Uint8Array, opts: IdxDatasetOptions = {}): Promise<IdxDataset> {
    const iname = opts.imagesName ?? "images";
    const lname = opts.labelsName ?? "labels";
    const im = await readIdx(images, iname);
    const lb = await readIdx(labels, lname);
    if (im.type !== "uint8" || im.dims.length !== 3) throw new DatasetError(`${iname}: expected images [N, H, W] of uint8, found [${im.dims}] of ${im.type}`);
    if (lb.type !== "uint8" || lb.dims.length !== 1) throw new DatasetError(`${lname}: expected labels [N] of uint8, found [${lb.dims}] of ${lb.type}`);
    if (im.dims[0] !== lb.dims[0]) throw new DatasetError(`${iname} has ${im.dims[0]} images but ${lname} ${lb.dims[0]} labels`);
    return new IdxDataset(im.dims[1], im.dims[2], im.data as Uint8Array, lb.data as Uint8Array, iname, opts.classNames);
  }

  /** From file paths (Node, or `opts.files`). */
  static async open(imagesPath: string, labelsPath: string, opts: IdxDatasetOptions = {}): Promise<IdxDataset> {
    const fs = opts.files ?? nodeFileTree;
    const [a, b] = await Promise.all([fs.read(imagesPath), fs.read(labelsPath)]);
    return IdxDataset.fromBytes(a, b, { ...opts, imagesName: opts.imagesName ?? imagesPath, labelsName: opts.labelsName ?? labelsPath });
  }

  label(i: number): number {
    checkIndex(this, i);
    return this.labels[i];
  }
  /** Item i, gray replicated to RGB. */
  async image(i: number): Promise<Rgb8Image> {
    checkIndex(this, i);
    const n = this.height * this.width;
    const src = this.pixels.subarray(i * n, (i + 1) * n);
    const data = new Uint8Array(n * 3);
    for (let p = 0; p < n; p++) data[3 * p] = data[3 * p + 1] = data[3 * p + 2] = src[p];
    return { width: this.width, height: this.height, data };
  }
  itemName(i: number): string {
    return `${this.name}[${i}]`;
  }
}

/** The extensions torchvision's DatasetFolder accepts (IMG_EXTENSIONS); only PNG and JPEG decode here. */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"] as const;
const DECODABLE = [".jpg", ".jpeg", ".png"];

export interface ImageFolderOptions {
  /** Where paths are read from (Node: the file system). */
  files?: FileTree;
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class ImageFolderDataset implements ImageDataset {
  readonly numClasses: number;
  private constructor(
    readonly root: string,
    readonly classNames: readonly string[],
    readonly samples: readonly { path: string; label: number }[],
    private readonly files: FileTree,
  ) {
    this.numClasses = classNames.length;
  }
  get length(): number {
    return this.samples.length;
  }

  /** List `root`'s class folders and their images (nothing is decoded yet). */
  static async open(root: string, opts: ImageFolderOptions = {}): Promise<ImageFolderDataset> {
    const fs = opts.files ?? nodeFileTree;
    const classes = (await fs.list(root))
      .filter((e) => e.folder)
      .map((e) => e.name)
      .sort(byCodePoint);
    if (classes.length === 0) throw new DatasetError(`${root}: no class folders (expected one subfolder per class)`);
    const samples: { path: string; label: number }[] = [];
    const empty: string[] = [];
    const unsupported: string[] = [];
    /** As `sorted(os.walk(dir))`: every folder below, ordered by its full path, then its files sorted. */
    const walk = async (dir: string, label: number): Promise<number> => {
      const folders: { path: string; files: string[] }[] = [];
      const visit = async (d: string) => {
        const entries = await fs.list(d);
        folders.push({ path: d, files: entries.filter((e) => !e.folder).map((e) => e.name) });
        for (const e of entries) if (e.folder) await visit(fs.join(d, e.name));
      };
      await visit(dir);
      folders.sort((x, y) => byCodePoint(x.path, y.path));
      let n = 0;
      for (const f of folders) {
        for (const name of f.files.sort(byCodePoint)) {
          const lower = name.toLowerCase();
          if (!IMAGE_EXTENSIONS.some((x) => lower.endsWith(x))) continue;
          const path = fs.join(f.path, name);
          if (!DECODABLE.some((x) => lower.endsWith(x))) unsupported.push(path);
          samples.push({ path, label });
          n++;
        }
      }
      return n;
    };
    for (let c = 0; c < classes.length; c++) {
      if ((await walk(fs.join(root, classes[c]), c)) === 0) empty.push(classes[c]);
    }
    if (empty.length) {
      throw new DatasetError(`${root}: no image in the class folder(s) ${empty.map((e) => `"${e}"`).join(", ")} (extensions: ${IMAGE_EXTENSIONS.join(" ")})`);
    }
    if (unsupported.length) {
      throw new DatasetError(
        `${root}: ${unsupported.length} image(s) in a format that cannot be decoded (only PNG and JPEG), e.g. ${unsupported.slice(0, 3).join(", ")}`,
      );
    }
    return new ImageFolderDataset(root, classes, samples, fs);
  }

  label(i: number): number {
    checkIndex(this, i);
    return this.samples[i].label;
  }
  async image(i: number): Promise<Rgb8Image> {
    checkIndex(this, i);
    const { path } = this.samples[i];
    const bytes = await this.files.read(path);
    let img: ReturnType<typeof decodeImage>;
    try {
      img = decodeImage(bytes, path);
    } catch (e) {
      if (e instanceof ImageFormatError) throw new DatasetError(e.message);
      throw e;
    }
    // decodeImage gives [0, 1] floats from 8-bit (or 16-bit) samples; back to 8 bits as PIL's convert('RGB') holds them.
    const data = new Uint8Array(img.data.length);
    for (let k = 0; k < data.length; k++) data[k] = Math.min(255, Math.max(0, Math.round(img.data[k] * 255)));
    return { width: img.width, height: img.height, data };
  }
  itemName(i: number): string {
    return this.samples[i].path;
  }
}

/** The first `count` items of a dataset (a quick run on a slice). */
export function takeFirst(ds: ImageDataset, count: number): ImageDataset {
  if (!(Number.isInteger(count) && count > 0)) throw new DatasetError(`takeFirst: count must be a positive integer (got ${count})`);
  if (count >= ds.length) return ds;
  return {
    length: count,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    label: (i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new RangeError(`item ${i} out of range [0, ${count})`);
      return ds.label(i);
    },
    image: (i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new RangeError(`item ${i} out of range [0, ${count})`);
      return ds.image(i);
    },
    itemName: (i) => ds.itemName(i),
  };
}

export interface OpenDatasetOptions {
  /** IDX folders holding both splits (Fashion-MNIST's train-* and t10k-*): which one; default "train". */
  split?: "train" | "test";
  /** The labels file of an IDX images file (default: its name with images-idx3 → labels-idx1). */
  labels?: string;
  /** Class names of an IDX dataset (default: Fashion-MNIST's when the path names fashion-mnist, else none). */
  classNames?: readonly string[];
  files?: FileTree;
}

const IDX_IMAGES = /images[-.]idx3[-.]ubyte(\.gz)?$/;

/**
 * Open what a user points a trainer at: an IDX images file (its labels
 * beside it), a folder of IDX files (Debian's
 * `/usr/share/datasets/fashion-mnist`: `train-*` or, with `split: "test"`,
 * `t10k-*`), or a folder with one subfolder of images per class.
 */
export async function openImageDataset(path: string, opts: OpenDatasetOptions = {}): Promise<ImageDataset> {
  const fs = opts.files ?? nodeFileTree;
  const fashion = /fashion[-_]?mnist/i.test(path);
  const classNames = opts.classNames ?? (fashion ? FASHION_MNIST_CLASSES : undefined);
  const idx = async (images: string) => {
    if (opts.labels) return IdxDataset.open(images, opts.labels, { classNames, files: fs });
    // the labels beside the images, gzipped or not
    const labels = images.replace(/images([-.])idx3/, "labels$1idx1");
    const other = labels.endsWith(".gz") ? labels.slice(0, -3) : `${labels}.gz`;
    try {
      return await IdxDataset.open(images, labels, { classNames, files: fs });
    } catch (e) {
      if (!(e instanceof DatasetError && e.message.startsWith("no such file"))) throw e;
      try {
        return await IdxDataset.open(images, other, { classNames, files: fs });
      } catch {
        throw new DatasetError(`no labels file beside ${images} (looked for ${labels} and ${other}); pass it with labels (--labels)`);
      }
    }
  };
  if (IDX_IMAGES.test(path)) return idx(path);
  const entries = await fs.list(path);
  const idxFiles = entries.filter((e) => !e.folder && IDX_IMAGES.test(e.name)).map((e) => e.name);
  if (idxFiles.length) {
    const split = opts.split ?? "train";
    const wanted = split === "train" ? /^train/ : /^(t10k|test)/;
    const pick = idxFiles.length === 1 && !/^(train|t10k|test)/.test(idxFiles[0]) ? idxFiles : idxFiles.filter((n) => wanted.test(n));
    if (pick.length !== 1) {
      throw new DatasetError(`${path}: ${pick.length ? "several" : "no"} IDX images file(s) for the ${split} split among ${idxFiles.join(", ")}; pass the file itself`);
    }
    return idx(fs.join(path, pick[0]));
  }
  return ImageFolderDataset.open(path, { files: fs });
}
