import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { resampleMatrix, resize2d } from "./resample.js";

describe("resampling matrices", () => {
  it("rows of interpolation matrices sum to one", () => {
    for (const mode of ["area", "bicubic", "bilinear", "nearest"] as const) {
      for (const [i, o] of [[1, 16], [3, 16], [13, 16], [16, 3], [16, 1], [64, 299], [256, 299]]) {
        const M = resampleMatrix(mode, i, o);
        for (let r = 0; r < o; r++) {
          let s = 0;
          for (let c = 0; c < i; c++) s += M[r * i + c];
          expect(Math.abs(s - 1), `${mode} ${i}->${o} row ${r}`).toBeLessThan(1e-12);
        }
      }
    }
  });

  it("area 4->2 averages pairs; 3->2 overlaps like adaptive pooling", () => {
    expect(Array.from(resampleMatrix("area", 4, 2))).toEqual([0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5]);
    expect(Array.from(resampleMatrix("area", 3, 2))).toEqual([0.5, 0.5, 0, 0, 0.5, 0.5]);
  });

  // (bicubic with A = -0.75 does not reproduce ramps; the tokenizer's parity tests pin it down)
  it("bilinear reproduces a linear ramp away from the borders", () => {
    for (const mode of ["bilinear"] as const) {
      const [n, o] = [8, 20];
      const M = resampleMatrix(mode, n, o);
      for (let r = 4; r < o - 4; r++) {
        let y = 0;
        for (let c = 0; c < n; c++) y += M[r * n + c] * c;
        expect(y).toBeCloseTo((r + 0.5) * (n / o) - 0.5, 12);
      }
    }
  });

  it("resize2d applies M·X·Mᵀ per channel on NHWC", async () => {
    const x = tf.tensor4d(Array.from({ length: 2 * 4 * 4 * 3 }, (_, i) => i), [2, 4, 4, 3]);
    const y = resize2d(x, 2, 2, "area");
    expect(y.shape).toEqual([2, 2, 2, 3]);
    const d = await y.data();
    // first output pixel, channel 0 of sample 0: mean of x[0, 0:2, 0:2, 0] = mean(0, 3, 12, 15)
    expect(d[0]).toBeCloseTo(7.5, 5);
  });
});
