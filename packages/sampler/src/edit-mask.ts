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

/**
 * The official box mask from fractions of the image side: the box
 * [y0, y1) × [x0, x1) is regenerated for in-painting (everything else kept),
 * and kept for out-painting (everything else generated).
 */
export function boxKeepMask(P: number, box: [number, number, number, number], mode: "inpaint" | "outpaint"): KeepMask {
  const [y0, x0, y1, x1] = box;
  if (!box.every((v) => Number.isFinite(v) && v >= 0 && v <= 1) || !(y0 < y1 && x0 < x1)) {
    throw new EditMaskError(`box must be y0,x0,y1,x1 fractions of the image side with 0 <= y0 < y1 <= 1 and 0 <= x0 < x1 <= 1, got ${box.join(",")}`);
  }
  const data = new Float32Array(P * P);
  for (let y = Math.round(y0 * P); y < Math.round(y1 * P); y++) {
    for (let x = Math.round(x0 * P); x < Math.round(x1 * P); x++) data[y * P + x] = 1;
  }
  if (mode === "inpaint") for (let i = 0; i < data.length; i++) data[i] = 1 - data[i];
  return { size: P, data };
}

/**
 * A token-space keep-mask from an image-space mask (H×W values in [0, 1],
 * 1 = the marked region): area-averaged to P×P as `F.interpolate(mode='area')`
 * does on the CPU (float32 sums over each window in row order, divided by
 * its height, then by its width); the marked region is regenerated for
 * in-painting (1 − value, in float32) and kept for out-painting.
 */
export function imageKeepMask(
  mask: { width: number; height: number; data: Float32Array },
  imageSize: number,
  P: number,
  mode: "inpaint" | "outpaint",
): KeepMask {
  if (mask.width !== imageSize || mask.height !== imageSize) {
    throw new EditMaskError(`mask must be ${imageSize}×${imageSize} like the image, got ${mask.width}×${mask.height}`);
  }
  const { width: W, height: H } = mask;
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
  return { size: P, data };
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
