/**
 * The official training preprocessing (FoundationVision/VAR `utils/data.py`,
 * the train transform), step by step as torchvision 0.14 does it on a PIL
 * image:
 *
 * 1. with `hflip`: RandomHorizontalFlip (probability ½), first;
 * 2. Resize(round(midReso·S), LANCZOS): the shorter side to
 *    mid = round(1.125·S) (Python's round), the longer to
 *    int(mid·long/short), with Pillow's Lanczos (core's `resizeLanczos`, bit
 *    for bit); an image already of that size is left as it is;
 * 3. RandomCrop(S): top = randint(0, h − S), left = randint(0, w − S);
 * 4. ToTensor (x/255 in float32) and x + x − 1: values in [−1, 1].
 *
 * The random draws (flip, then top, then left) come from the given `Random`.
 * `centerTransform` is the validation transform (CenterCrop instead of the
 * random crop, no flip).
 */
import { type Random, type Rgb8Image, resizeLanczos } from "@nextscale/core";
import { DatasetError } from "./errors.js";

/** Python's round(): halves to even. */
const pyRound = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export interface TransformOptions {
  /** Output size S (square). */
  size: number;
  /** Resize the shorter side to round(midReso·S) first (official 1.125). */
  midReso?: number;
  /** Random horizontal flip (official `hflip`, off by default). */
  hflip?: boolean;
}

/** Mirror an image left-right. */
export function flipHorizontal(img: Rgb8Image): Rgb8Image {
  const { width: w, height: h } = img;
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = (y * w + (w - 1 - x)) * 3;
      out[d] = img.data[s];
      out[d + 1] = img.data[s + 1];
      out[d + 2] = img.data[s + 2];
    }
  }
  return { width: w, height: h, data: out };
}

/** torchvision's Resize(int) with LANCZOS: the shorter side to `mid`. */
export function resizeShorterSide(img: Rgb8Image, mid: number): Rgb8Image {
  const { width: w, height: h } = img;
  const [short, long] = w <= h ? [w, h] : [h, w];
  const newLong = Math.trunc((mid * long) / short);
  const [rw, rh] = w <= h ? [mid, newLong] : [newLong, mid];
  if (rw === w && rh === h) return img;
  return resizeLanczos(img, rw, rh);
}

/** Crop S×S at (top, left) and map 8-bit values to [−1, 1] as ToTensor + normalize_01_into_pm1 (float32). */
export function cropToPm1(img: Rgb8Image, top: number, left: number, size: number, out: Float32Array<ArrayBuffer> = new Float32Array(size * size * 3), offset = 0): Float32Array<ArrayBuffer> {
  if (top < 0 || left < 0 || top + size > img.height || left + size > img.width) {
    throw new DatasetError(`crop ${size}×${size} at (${top}, ${left}) outside a ${img.width}×${img.height} image`);
  }
  for (let y = 0; y < size; y++) {
    const row = ((top + y) * img.width + left) * 3;
    for (let x = 0; x < size * 3; x++) {
      const v = Math.fround(img.data[row + x] / 255);
      out[offset + y * size * 3 + x] = Math.fround(Math.fround(v + v) - 1);
    }
  }
  return out;
}

function midOf(o: TransformOptions): number {
  if (!(Number.isInteger(o.size) && o.size > 0)) throw new DatasetError(`transform: size must be a positive integer (got ${o.size})`);
  return pyRound((o.midReso ?? 1.125) * o.size);
}

/** The official train transform of one image: (S, S, 3) float32 in [−1, 1], written into `out` at `offset` if given. */
export function trainTransform(img: Rgb8Image, rng: Random, o: TransformOptions, out?: Float32Array<ArrayBuffer>, offset = 0): Float32Array<ArrayBuffer> {
  const mid = midOf(o);
  if (o.hflip && rng.random() < 0.5) img = flipHorizontal(img);
  const r = resizeShorterSide(img, mid);
  if (r.width < o.size || r.height < o.size) throw new DatasetError(`transform: ${r.width}×${r.height} after the resize is smaller than the crop ${o.size}`);
  const top = rng.int(r.height - o.size + 1);
  const left = rng.int(r.width - o.size + 1);
  return cropToPm1(r, top, left, o.size, out, offset);
}

/** The official validation transform: the same resize, then the centre S×S (CenterCrop's offsets), in [−1, 1]. */
export function centerTransform(img: Rgb8Image, o: TransformOptions, out?: Float32Array<ArrayBuffer>, offset = 0): Float32Array<ArrayBuffer> {
  const r = resizeShorterSide(img, midOf(o));
  const top = Math.trunc(pyRound((r.height - o.size) / 2));
  const left = Math.trunc(pyRound((r.width - o.size) / 2));
  return cropToPm1(r, top, left, o.size, out, offset);
}
