/**
 * Keep-masks for zero-shot editing (the official `demo_zero_shot_edit.ipynb`
 * `get_edit_mask` / `replace_embedding`): a token-space mask at the last
 * scale's resolution P×P, 1 where the source image's tokens are kept and 0
 * where the model generates. At scale k it is resized to pn×pn bilinearly
 * (align_corners=False) and thresholded at > 0.5; scales with pn² ≤ 3 keep
 * everything.
 */
import { bilinearTaps } from "@nextscale/core";
import { fmaf } from "./float32.js";

export class EditMaskError extends Error {
  override name = "EditMaskError";
}

/** A P×P token-space keep-mask, row-major, values in [0, 1]. */
export interface KeepMask {
  size: number;
  data: Float32Array;
}

/** Python's round(): halves to even (the official `get_edit_mask` rounds the box's edges with it). */
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `x` with at most two decimals (for messages). */
const num = (x: number) => String(Math.round(x * 100) / 100);

/** How big one token of the last scale is, for messages: in pixels when the image size is known. */
function tokenSize(P: number, imageSize?: number): string {
  const grid = `the last scale has ${P}×${P} tokens`;
  return imageSize ? `${num(imageSize / P)}×${num(imageSize / P)} px (${grid} over ${imageSize}×${imageSize} px)` : `1/${P} of the image side (${grid})`;
}

/** Tokens kept and generated at the last scale (side P: the mask itself, thresholded at > 0.5). */
function lastScaleCounts(mask: KeepMask): { kept: number; generated: number } {
  const bits = scaleKeepMask(mask, mask.size);
  let kept = 0;
  for (const b of bits) kept += b;
  return { kept, generated: bits.length - kept };
}

/**
 * Refuse a mask that would silently do nothing: in-painting that
 * regenerates no token, out-painting that keeps no token, or either that
 * generates nothing. `region` describes the marked region for the message.
 */
function checkCoverage(mask: KeepMask, mode: "inpaint" | "outpaint", region: string, rule: string, imageSize?: number): void {
  const P = mask.size;
  const { kept, generated } = lastScaleCounts(mask);
  const token = tokenSize(P, imageSize);
  if (mode === "inpaint" && generated === 0) {
    throw new EditMaskError(
      `${region} to regenerate covers no token: one token is ${token}, and ${rule}; a region smaller than one token maps to nothing at every scale, so nothing would be regenerated: mark a larger region`,
    );
  }
  if (mode === "outpaint" && kept === 0) {
    throw new EditMaskError(
      `${region} to keep covers no token: one token is ${token}, and ${rule}; a region smaller than one token maps to nothing at every scale, so nothing of the image would be kept: mark a larger region`,
    );
  }
  if (mode === "outpaint" && generated === 0) {
    throw new EditMaskError(`${region} to keep covers every token (${P}×${P}), so nothing would be generated; leave part of the image unmarked`);
  }
}

/**
 * The official box mask from fractions of the image side: the box
 * [y0, y1) × [x0, x1) is regenerated for in-painting (everything else kept),
 * and kept for out-painting (everything else generated). Its edges are
 * rounded to the token grid as the official `get_edit_mask` does (Python's
 * round: halves to even). A box that covers no token of the last scale
 * (smaller than one token), or an out-painting box that covers all of them,
 * is an `EditMaskError` (`imageSize`, when given, puts pixel sizes in its
 * message).
 */
export function boxKeepMask(P: number, box: [number, number, number, number], mode: "inpaint" | "outpaint", opts: { imageSize?: number } = {}): KeepMask {
  checkSide(P);
  checkMode(mode);
  const shown = Array.isArray(box) ? box.join(",") : String(box);
  if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => typeof v === "number" && Number.isFinite(v))) {
    throw new EditMaskError(`box must be four numbers y0,x0,y1,x1 (fractions of the image side), got ${shown}`);
  }
  const [y0, x0, y1, x1] = box;
  const outside = (["y0", "x0", "y1", "x1"] as const).filter((_, i) => box[i] < 0 || box[i] > 1);
  if (outside.length) {
    throw new EditMaskError(`box ${shown}: ${outside.join(", ")} ${outside.length === 1 ? "is" : "are"} outside [0, 1]; the box is y0,x0,y1,x1 as fractions of the image side (0 = top/left, 1 = bottom/right)`);
  }
  if (!(y0 < y1)) throw new EditMaskError(`box ${shown}: y0 (${y0}) must be less than y1 (${y1}); the box is y0,x0,y1,x1 (top, left, bottom, right)`);
  if (!(x0 < x1)) throw new EditMaskError(`box ${shown}: x0 (${x0}) must be less than x1 (${x1}); the box is y0,x0,y1,x1 (top, left, bottom, right)`);
  const data = new Float32Array(P * P);
  for (let y = pyRound(y0 * P); y < pyRound(y1 * P); y++) {
    for (let x = pyRound(x0 * P); x < pyRound(x1 * P); x++) data[y * P + x] = 1;
  }
  if (mode === "inpaint") for (let i = 0; i < data.length; i++) data[i] = 1 - data[i];
  const mask = { size: P, data };
  const S = opts.imageSize;
  const size = S ? `${num((x1 - x0) * S)}×${num((y1 - y0) * S)} px` : `${num(x1 - x0)}×${num(y1 - y0)} of the image side`;
  checkCoverage(mask, mode, `the box ${shown} (${size}, width × height)`, "its edges are rounded to the token grid (as the official get_edit_mask does)", S);
  return mask;
}

function checkSide(P: number): void {
  if (!(Number.isInteger(P) && P > 0)) throw new EditMaskError(`the keep-mask side P (the last scale's side) must be a positive integer, got ${P}`);
}

function checkMode(mode: string): void {
  if (mode !== "inpaint" && mode !== "outpaint") throw new EditMaskError(`mode must be "inpaint" or "outpaint", got ${JSON.stringify(mode)}`);
}

/**
 * A token-space keep-mask from an image-space mask (H×W values in [0, 1],
 * 1 = the marked region): area-averaged to P×P as `F.interpolate(mode='area')`
 * does on the CPU (float32 sums over each window in row order, divided by
 * its height, then by its width); the marked region is regenerated for
 * in-painting (1 − value, in float32) and kept for out-painting. A marked
 * region that covers no token of the last scale (its tokens average ≤ 0.5:
 * smaller than about one token), or an out-painting region that covers all
 * of them, is an `EditMaskError` naming the region's size in pixels.
 */
export function imageKeepMask(
  mask: { width: number; height: number; data: Float32Array },
  imageSize: number,
  P: number,
  mode: "inpaint" | "outpaint",
): KeepMask {
  checkSide(P);
  checkMode(mode);
  if (mask.width !== imageSize || mask.height !== imageSize) {
    throw new EditMaskError(`mask must be ${imageSize}×${imageSize} like the image, got ${mask.width}×${mask.height}`);
  }
  const { width: W, height: H } = mask;
  if (mask.data.length !== W * H) throw new EditMaskError(`mask data must hold ${W}×${H} = ${W * H} values, got ${mask.data.length}`);
  const data = new Float32Array(P * P);
  for (let i = 0; i < P; i++) {
    const [y0, y1] = [Math.floor((i * H) / P), Math.ceil(((i + 1) * H) / P)];
    for (let j = 0; j < P; j++) {
      const [x0, x1] = [Math.floor((j * W) / P), Math.ceil(((j + 1) * W) / P)];
      let s = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s = Math.fround(s + mask.data[y * W + x]);
      const v = Math.fround(Math.fround(s / (y1 - y0)) / (x1 - x0));
      data[i * P + j] = mode === "inpaint" ? 1 - v : v;
    }
  }
  const out = { size: P, data };
  checkCoverage(out, mode, describeMarked(mask), "a token counts as marked when its pixels average more than 0.5 (at least 0.5 for in-painting)", imageSize);
  return out;
}

/** The marked pixels (> 0.5) of an image-space mask: their bounding box and count, for messages. */
function describeMarked(mask: { width: number; height: number; data: Float32Array }): string {
  let [top, left, bottom, right, n] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, -1, -1, 0];
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (!(mask.data[y * mask.width + x] > 0.5)) continue;
      n++;
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
      left = Math.min(left, x);
      right = Math.max(right, x);
    }
  }
  if (n === 0) return "the mask's marked region (empty: no pixel is > 0.5, white in a mask image)";
  return `the marked region (${n} px marked, within ${right - left + 1}×${bottom - top + 1} px, width × height, at x ${left}…${right}, y ${top}…${bottom})`;
}

/**
 * The keep-mask resized to a scale of side pn before the threshold, as the
 * official `replace_embedding` computes it on the CPU:
 * `F.interpolate(mask.expand(B, 1, P, P), (pn, pn), mode='bilinear', align_corners=False)`
 * in float32. PyTorch's CPU kernels round this differently for one image and
 * for a batch (measured, Debian's torch 1.13.1 with AVX2: every value bit for
 * bit in both cases, test-fixtures/edit-masks): one image takes the
 * channels-last kernel, the four taps' float32 weights λy·λx multiplied
 * with the mask and summed in float64; a batch (the mask expanded with a zero
 * batch stride) takes the generic kernel, each row fl(m0·λ0 + m1·λ1) and then
 * the rows the same way, every step a float32 fused multiply-add. Thresholds
 * at 0.5 are met often (a box's edges land on half-tokens), so the rounding
 * decides which tokens are kept.
 */
export function scaleKeepMaskValues(mask: KeepMask, pn: number, batch = 1): Float32Array {
  const P = mask.size;
  const m = mask.data;
  const { i0, i1, l0, l1 } = bilinearTaps(P, pn);
  const out = new Float32Array(pn * pn);
  for (let oy = 0; oy < pn; oy++) {
    const [ra, rb, h0, h1] = [i0[oy] * P, i1[oy] * P, l0[oy], l1[oy]];
    for (let ox = 0; ox < pn; ox++) {
      const [a, b, w0, w1] = [i0[ox], i1[ox], l0[ox], l1[ox]];
      if (batch === 1) {
        const w = [Math.fround(h0 * w0), Math.fround(h0 * w1), Math.fround(h1 * w0), Math.fround(h1 * w1)];
        out[oy * pn + ox] = m[ra + a] * w[0] + m[ra + b] * w[1] + m[rb + a] * w[2] + m[rb + b] * w[3];
      } else {
        const top = fmaf(m[ra + a], w0, Math.fround(m[ra + b] * w1));
        const bottom = fmaf(m[rb + a], w0, Math.fround(m[rb + b] * w1));
        out[oy * pn + ox] = fmaf(top, h0, Math.fround(bottom * h1));
      }
    }
  }
  return out;
}

/**
 * The mask a scale with side pn uses for a batch of `batch` images: the
 * resized keep-mask (`scaleKeepMaskValues`) > 0.5, and everything kept where
 * pn² ≤ 3 (the official code's rule).
 */
export function scaleKeepMask(mask: KeepMask, pn: number, batch = 1): Uint8Array {
  const out = new Uint8Array(pn * pn);
  if (pn * pn <= 3) return out.fill(1);
  const v = scaleKeepMaskValues(mask, pn, batch);
  for (let i = 0; i < v.length; i++) out[i] = v[i] > 0.5 ? 1 : 0;
  return out;
}
