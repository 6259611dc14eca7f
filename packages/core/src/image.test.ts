import { describe, expect, it } from "vitest";
import { FONT_CHARS, GLYPH_H, GLYPH_W, glyphPixel, textWidth } from "./font.js";
import { decodeImage, encodePng, ImageFormatError, imageGrid, type RgbImage } from "./image.js";

/** A w×h image whose every pixel differs (so a misplaced copy shows), in [0.2, 0.8]. */
function pattern(w: number, h: number, seed: number): RgbImage {
  return { width: w, height: h, data: Float32Array.from({ length: w * h * 3 }, (_, i) => 0.2 + (((i * 37 + seed * 101) % 97) / 96) * 0.6) };
}
const px = (im: RgbImage, x: number, y: number) => Array.from(im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3));

describe("image I/O", () => {
  it("PNG round trip at 8 bits, deterministic bytes", () => {
    const img = { width: 3, height: 2, data: Float32Array.from({ length: 18 }, (_, i) => i / 17) };
    const a = encodePng(img);
    expect(Buffer.from(encodePng(img)).equals(Buffer.from(a))).toBe(true);
    const back = decodeImage(a);
    expect([back.width, back.height]).toEqual([3, 2]);
    for (let i = 0; i < 18; i++) expect(Math.abs(back.data[i] - img.data[i])).toBeLessThanOrEqual(0.5 / 255 + 1e-7);
  });

  it("grid lays out images with padding", () => {
    const one = { width: 2, height: 2, data: new Float32Array(12) };
    const g = imageGrid([one, one, one], 2, 1);
    expect([g.width, g.height]).toEqual([2 * 2 + 3, 2 * 2 + 3]);
  });

  it("labels: drawn in a strip below each image, ink only where the text is, the images unchanged", () => {
    const w = 64;
    const h = 48;
    const ims = [pattern(w, h, 1), pattern(w, h, 2), pattern(w, h, 3)];
    const labels = ["207 golden retriever", "3", ""];
    const pad = 2;
    const g = imageGrid(ims, 2, pad, { labels });
    const strip = GLYPH_H + 2; // scale 1 below 256 px: the glyphs and one pixel above and below
    expect([g.width, g.height]).toEqual([2 * w + 3 * pad, 2 * (h + strip) + 3 * pad]);
    expect(imageGrid(ims, 2, pad, { labels }).data).toEqual(g.data); // deterministic

    const cell = (n: number) => ({ x0: pad + (n % 2) * (w + pad), y0: pad + Math.floor(n / 2) * (h + strip + pad) });
    // every image's pixels are where they belong, unchanged (compared with the unlabelled grid too)
    const plain = imageGrid(ims, 2, pad);
    ims.forEach((im, n) => {
      const { x0, y0 } = cell(n);
      const py0 = pad + Math.floor(n / 2) * (h + pad);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          expect(px(g, x0 + x, y0 + y)).toEqual(px(im, x, y));
          expect(px(g, x0 + x, y0 + y)).toEqual(px(plain, x0 + x, py0 + y));
        }
      }
    });
    // the strips: black exactly where the font has ink, white everywhere else
    const shown = ["207 gold..", "3", ""]; // 64 px hold 10 characters: the first label is cut and ends in ".."
    expect(textWidth(shown[0])).toBeLessThanOrEqual(w - 2);
    shown.forEach((text, n) => {
      const { x0, y0 } = cell(n);
      let ink = 0;
      for (let y = 0; y < strip; y++) {
        for (let x = 0; x < w; x++) {
          const gx = x - 1;
          const gy = y - 1;
          const ch = [...text][Math.floor(gx / (GLYPH_W + 1))];
          const on = gx >= 0 && gy >= 0 && ch !== undefined && glyphPixel(ch, gx % (GLYPH_W + 1), gy);
          if (on) ink++;
          expect(px(g, x0 + x, y0 + h + y), `label ${n} at (${x}, ${y})`).toEqual(on ? [0, 0, 0] : [1, 1, 1]);
        }
      }
      if (text) expect(ink).toBeGreaterThan(10 * text.replace(/ /g, "").length);
      else expect(ink).toBe(0);
    });
    // the padding stays white
    for (let x = 0; x < g.width; x++) expect(px(g, x, 0)).toEqual([1, 1, 1]);
  });

  it("labels: larger images get a larger font; mismatched labels and bad scales are errors", () => {
    const im = pattern(256, 8, 0);
    const g = imageGrid([im], 1, 0, { labels: ["x"] });
    expect(g.height).toBe(8 + 2 * (GLYPH_H + 2)); // scale 2
    expect(() => imageGrid([im, im], 2, 0, { labels: ["a"] })).toThrow(/1 labels for 2 images/);
    expect(() => imageGrid([im], 1, 0, { labels: ["a"], labelScale: 0 })).toThrow(/labelScale/);
  });

  it("the font: every glyph distinct and inside its cell; unknown characters drawn as ?", () => {
    const bitmap = (ch: string) => Array.from({ length: GLYPH_W * GLYPH_H }, (_, i) => glyphPixel(ch, i % GLYPH_W, Math.floor(i / GLYPH_W))).join();
    const seen = new Map<string, string>();
    for (const ch of FONT_CHARS) {
      const b = bitmap(ch);
      expect(seen.get(b), `"${ch}" looks like "${seen.get(b)}"`).toBeUndefined();
      seen.set(b, ch);
    }
    for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 '(),-.;=^*/+%") expect(FONT_CHARS).toContain(ch);
    expect(bitmap("€")).toBe(bitmap("?"));
    expect(glyphPixel("A", GLYPH_W, 0)).toBe(false);
  });

  it("non-images and corrupt PNGs are clear errors", () => {
    expect(() => decodeImage(new TextEncoder().encode("hello"), "a.txt")).toThrow(/a\.txt: not a PNG or JPEG/);
    const png = encodePng({ width: 4, height: 4, data: new Float32Array(48) });
    expect(() => decodeImage(png.subarray(0, 40), "cut.png")).toThrow(ImageFormatError);
  });
});
