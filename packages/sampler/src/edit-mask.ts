/**
 * Keep-masks for zero-shot editing (the official `demo_zero_shot_edit.ipynb`
 * `get_edit_mask` / `replace_embedding`): a token-space mask at the last
 * scale's resolution P×P, 1 where the source image's tokens are kept and 0
 * where the model generates. At scale k it is resized to pn×pn bilinearly
 * (align_corners=False) and thresholded at > 0.5; scales with pn² ≤ 3 keep
 * everything.
 */
import { resampleMatrix } from "@nextscale/core";

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
 * 1 = the marked region): area-averaged to P×P; the marked region is
 * regenerated for in-painting and kept for out-painting.
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
  const mh = resampleMatrix("area", mask.height, P);
  const mw = resampleMatrix("area", mask.width, P);
  const data = new Float32Array(P * P);
  for (let i = 0; i < P; i++) {
    for (let j = 0; j < P; j++) {
      let s = 0;
      for (let y = 0; y < mask.height; y++) {
        const wy = mh[i * mask.height + y];
        if (wy === 0) continue;
        for (let x = 0; x < mask.width; x++) s += wy * mw[j * mask.width + x] * mask.data[y * mask.width + x];
      }
      data[i * P + j] = mode === "inpaint" ? 1 - s : s;
    }
  }
  return { size: P, data };
}

/** The mask a scale with side pn uses: bilinear resize of the keep-mask, > 0.5 (pn² ≤ 3: all kept). */
export function scaleKeepMask(mask: KeepMask, pn: number): Uint8Array {
  const out = new Uint8Array(pn * pn);
  if (pn * pn <= 3) return out.fill(1);
  const P = mask.size;
  const M = resampleMatrix("bilinear", P, pn);
  // Accumulate in float32 as PyTorch's interpolate does on a float mask.
  for (let i = 0; i < pn; i++) {
    for (let j = 0; j < pn; j++) {
      let s = 0;
      for (let y = 0; y < P; y++) {
        const wy = M[i * P + y];
        if (wy === 0) continue;
        for (let x = 0; x < P; x++) s += wy * M[j * P + x] * mask.data[y * P + x];
      }
      out[i * pn + j] = Math.fround(s) > 0.5 ? 1 : 0;
    }
  }
  return out;
}
