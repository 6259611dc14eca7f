/**
 * The official image preprocessing (FoundationVision/VAR `utils/data.py`,
 * the validation transform): resize the shorter side to round(1.125·S)
 * with Lanczos (`transforms.Resize(mid_reso, LANCZOS)` on a PIL image), then
 * crop the centre S×S (`transforms.CenterCrop`). The resize is Pillow's
 * own algorithm (`Resample.c`): a separable Lanczos-3 filter stretched by the
 * scale when shrinking, coefficients normalised per output pixel and
 * rounded to 22-bit fixed point, the horizontal pass first, each pass
 * rounded and clipped to 8 bits, so images match Pillow's bit for bit
 * (checked against Pillow 9.4 in the tests).
 */
import { ImageFormatError, type RgbImage } from "./image.js";

/** 8-bit RGB pixels, row-major, as Pillow holds an "RGB" image. */
export interface Rgb8Image {
  width: number;
  height: number;
  data: Uint8Array;
}

const PRECISION_BITS = 32 - 8 - 2;
const SUPPORT = 3; // Lanczos-3

function sinc(x: number): number {
  if (x === 0) return 1;
  const y = x * Math.PI;
  return Math.sin(y) / y;
}
const lanczos = (x: number) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0);

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`: per output pixel, its first input and its fixed-point weights. */
function coefficients(inSize: number, outSize: number): { first: Int32Array; weights: Int32Array[] } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = SUPPORT * filterscale;
  const first = new Int32Array(outSize);
  const weights: Int32Array[] = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = new Float64Array(Math.max(0, xmax));
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = lanczos((x + xmin - center + 0.5) / filterscale);
      ww += k[x];
    }
    const fixed = new Int32Array(k.length);
    for (let x = 0; x < k.length; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      fixed[x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    first[xx] = xmin;
    weights.push(fixed);
  }
  return { first, weights };
}

const clip8 = (v: number) => (v >= 2 ** (PRECISION_BITS + 8) ? 255 : v <= 0 ? 0 : Math.floor(v / 2 ** PRECISION_BITS));

/** One pass of Pillow's resampling along x (`horizontal`) or y, rounded and clipped to 8 bits. */
function pass(img: Rgb8Image, size: number, horizontal: boolean): Rgb8Image {
  const [w, h] = horizontal ? [size, img.height] : [img.width, size];
  const { first, weights } = coefficients(horizontal ? img.width : img.height, size);
  const out = new Uint8Array(w * h * 3);
  const src = img.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = horizontal ? x : y;
      const k = weights[o];
      let s0 = 1 << (PRECISION_BITS - 1);
      let s1 = s0;
      let s2 = s0;
      for (let t = 0; t < k.length; t++) {
        const p = horizontal ? (y * img.width + first[o] + t) * 3 : ((first[o] + t) * img.width + x) * 3;
        s0 += src[p] * k[t];
        s1 += src[p + 1] * k[t];
        s2 += src[p + 2] * k[t];
      }
      const q = (y * w + x) * 3;
      out[q] = clip8(s0);
      out[q + 1] = clip8(s1);
      out[q + 2] = clip8(s2);
    }
  }
  return { width: w, height: h, data: out };
}

/** `Image.resize((width, height), Image.LANCZOS)` of Pillow, bit for bit. */
export function resizeLanczos(img: Rgb8Image, width: number, height: number): Rgb8Image {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageFormatError(`resizeLanczos: the size must be positive integers (got ${width}×${height})`);
  }
  let out = img;
  if (width !== img.width) out = pass(out, width, true);
  if (height !== img.height) out = pass(out, height, false);
  return out === img ? { ...img, data: img.data.slice() } : out;
}

/** Python's round(): halves to even. */
const roundHalfEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/**
 * The official validation preprocessing to an S×S image: the shorter side
 * resized to round(1.125·S) with Lanczos (the longer one to
 * int(round(1.125·S)·long/short), as torchvision's `Resize(int)`), then the
 * centre S×S (torchvision's `CenterCrop`: the offset rounded half to even).
 * Pixels in [0, 1] (the image as `decodeImage` gives it).
 */
export function officialPreprocess(img: RgbImage, size: number): RgbImage {
  if (!(Number.isInteger(size) && size > 0)) throw new ImageFormatError(`officialPreprocess: size must be a positive integer (got ${size})`);
  const bytes = new Uint8Array(img.data.length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.min(255, Math.max(0, Math.round(img.data[i] * 255)));
  const mid = roundHalfEven(1.125 * size);
  const { width: w, height: h } = img;
  const [short, long] = w <= h ? [w, h] : [h, w];
  const newLong = Math.trunc((mid * long) / short);
  const [rw, rh] = w <= h ? [mid, newLong] : [newLong, mid];
  const r = resizeLanczos({ width: w, height: h, data: bytes }, rw, rh);
  const top = Math.trunc(roundHalfEven((rh - size) / 2));
  const left = Math.trunc(roundHalfEven((rw - size) / 2));
  const data = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size * 3; x++) data[y * size * 3 + x] = r.data[((top + y) * rw + left) * 3 + x] / 255;
  }
  return { width: size, height: size, data };
}
