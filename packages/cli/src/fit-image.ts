/** `--resize` for `edit` and `reconstruct`: an input image brought to the model's side S. */
import { officialPreprocess, type RgbImage } from "@nextscale/core";
import type { CommandIO } from "./commands/types.js";

/** Python's round (halves to even), as torchvision sizes the resize. */
const roundHalfEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** What --resize does to an image for side S, in words (for messages and help). */
export function resizeWords(S: number): string {
  return `resizes the shorter side to ${roundHalfEven(1.125 * S)} (Lanczos) and crops the centre ${S}×${S}, as the official preprocessing does`;
}

/** The hint appended to a wrong-size error. */
export function resizeHint(S: number): string {
  return `pass --resize (it ${resizeWords(S)}), or resize or crop it to ${S}×${S} first`;
}

/**
 * The official validation preprocessing (`officialPreprocess`: shorter side
 * to round(1.125·S), centre S×S crop) of the image named by `flag`, with one
 * line on stderr saying what was done.
 */
export function resizeForModel(img: RgbImage, S: number, label: string, io: CommandIO): RgbImage {
  const out = officialPreprocess(img, S);
  io.err(`${label}: ${img.width}×${img.height} -> ${S}×${S} (--resize: shorter side to ${roundHalfEven(1.125 * S)}, centre crop)\n`);
  return out;
}
