import { describe, expect, it } from "vitest";
import { decodeImage, encodePng, ImageFormatError, imageGrid } from "./image.js";

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

  it("non-images and corrupt PNGs are clear errors", () => {
    expect(() => decodeImage(new TextEncoder().encode("hello"), "a.txt")).toThrow(/a\.txt: not a PNG or JPEG/);
    const png = encodePng({ width: 4, height: 4, data: new Float32Array(48) });
    expect(() => decodeImage(png.subarray(0, 40), "cut.png")).toThrow(ImageFormatError);
  });
});
