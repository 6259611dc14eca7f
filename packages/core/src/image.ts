/**
 * Image files in and out, the same in Node and the browser: PNG (8/16-bit,
 * gray, gray+alpha, RGB, RGBA, palette) and baseline/progressive JPEG decode,
 * PNG encode. Pixels are RGB float32 in [0, 1], row-major (H, W, 3).
 */
import { decode as decodePngRaw, encode as encodePngRaw } from "fast-png";
import jpeg from "jpeg-js";
import { drawText, GLYPH_H, textWidth } from "./font.js";

export class ImageFormatError extends Error {
  override name = "ImageFormatError";
}

export interface RgbImage {
  width: number;
  height: number;
  /** (H, W, 3) values in [0, 1]. */
  data: Float32Array;
}

const isPng = (b: Uint8Array) => b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Decode PNG or JPEG bytes to RGB in [0, 1]; alpha is dropped, gray is replicated. */
export function decodeImage(bytes: Uint8Array, name = "image"): RgbImage {
  if (isPng(bytes)) {
    let png: ReturnType<typeof decodePngRaw>;
    try {
      png = decodePngRaw(bytes);
    } catch (e) {
      throw new ImageFormatError(`${name}: corrupt PNG (${(e as Error).message})`);
    }
    const { width, height, channels, depth, palette } = png;
    const src = png.data as ArrayLike<number>;
    const max = depth === 16 ? 65535 : depth === 8 ? 255 : 2 ** depth - 1;
    const out = new Float32Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      if (palette) {
        const c = palette[src[i]] ?? [0, 0, 0];
        out[3 * i] = c[0] / 255;
        out[3 * i + 1] = c[1] / 255;
        out[3 * i + 2] = c[2] / 255;
      } else if (channels >= 3) {
        for (let k = 0; k < 3; k++) out[3 * i + k] = src[channels * i + k] / max;
      } else {
        const g = src[channels * i] / max;
        out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = g;
      }
    }
    return { width, height, data: out };
  }
  if (isJpeg(bytes)) {
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 2048 });
    } catch (e) {
      throw new ImageFormatError(`${name}: corrupt JPEG (${(e as Error).message ?? e})`);
    }
    const out = new Float32Array(img.width * img.height * 3);
    for (let i = 0; i < img.width * img.height; i++) {
      for (let k = 0; k < 3; k++) out[3 * i + k] = img.data[4 * i + k] / 255;
    }
    return { width: img.width, height: img.height, data: out };
  }
  throw new ImageFormatError(`${name}: not a PNG or JPEG image`);
}

/** Quantise RGB in [0, 1] to 8 bits the way torchvision's save_image does: round(x·255), clamped. */
export function toUint8Rgb(img: RgbImage): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(img.data[i] * 255)));
  return out;
}

/** Encode RGB in [0, 1] as an 8-bit PNG. Deterministic: same pixels, same bytes. */
export function encodePng(img: RgbImage): Uint8Array {
  if (img.data.length !== img.width * img.height * 3) {
    throw new ImageFormatError(`encodePng: ${img.data.length} values for ${img.width}x${img.height}x3`);
  }
  return encodePngRaw({ width: img.width, height: img.height, data: toUint8Rgb(img), channels: 3, depth: 8 });
}

export interface ImageGridOptions {
  /**
   * One label per image (e.g. its class: "207 golden retriever"), drawn in
   * black in a white strip below it with a small built-in bitmap font
   * (letters, digits and common punctuation; others as "?"); a label wider
   * than the image is cut and ends in "..". The image's pixels are unchanged.
   */
  labels?: readonly string[];
  /** Font pixel size (default: 1 below 256 px wide images, else ⌊width / 128⌋). */
  labelScale?: number;
}

/** `text` cut to fit `width` pixels at `scale`, ending in ".." when cut. */
function fitText(text: string, width: number, scale: number): string {
  const chars = [...text];
  const fits = (n: number) => textWidth("x".repeat(n), scale) <= width;
  if (fits(chars.length)) return text;
  let n = chars.length;
  while (n > 0 && !fits(n + 2)) n--;
  return n > 0 ? `${chars.slice(0, n).join("").trimEnd()}..` : "";
}

/**
 * Lay images of one size side by side (cols per row) on a white background,
 * `pad` pixels apart; with `labels`, each image gets its label in a strip
 * below it. Deterministic: the same images and labels give the same pixels.
 */
export function imageGrid(images: RgbImage[], cols = images.length, pad = 2, opts: ImageGridOptions = {}): RgbImage {
  if (!images.length) throw new ImageFormatError("imageGrid: no images");
  const { width: w, height: h } = images[0];
  if (images.some((im) => im.width !== w || im.height !== h)) throw new ImageFormatError("imageGrid: images differ in size");
  const { labels } = opts;
  if (labels && labels.length !== images.length) throw new ImageFormatError(`imageGrid: ${labels.length} labels for ${images.length} images`);
  const scale = opts.labelScale ?? Math.max(1, Math.floor(w / 128));
  if (!(Number.isInteger(scale) && scale >= 1)) throw new ImageFormatError(`imageGrid: labelScale must be a positive integer (got ${scale})`);
  const margin = scale; // one font pixel around the text
  const strip = labels ? GLYPH_H * scale + 2 * margin : 0;
  const cellH = h + strip;
  const rows = Math.ceil(images.length / cols);
  const W = cols * w + (cols + 1) * pad;
  const H = rows * cellH + (rows + 1) * pad;
  const data = new Float32Array(W * H * 3).fill(1);
  images.forEach((im, n) => {
    const x0 = pad + (n % cols) * (w + pad);
    const y0 = pad + Math.floor(n / cols) * (cellH + pad);
    for (let y = 0; y < h; y++) data.set(im.data.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * W + x0) * 3);
    if (!labels) return;
    const text = fitText(labels[n], w - 2 * margin, scale);
    // drawn into a cell-sized canvas, then copied: the text never reaches a neighbour
    const cell = new Float32Array(w * strip * 3).fill(1);
    drawText(cell, w, strip, text, margin, margin, { scale });
    for (let y = 0; y < strip; y++) data.set(cell.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + h + y) * W + x0) * 3);
  });
  return { width: W, height: H, data };
}
