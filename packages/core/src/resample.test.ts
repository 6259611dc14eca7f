import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { bilinearTaps, resampleMatrix, resize2d } from "./resample.js";

describe("resampling matrices", () => {
  it("rows of interpolation matrices sum to one", () => {
    for (const mode of ["area", "bicubic", "bilinear", "nearest"] as const) {
      for (const [i, o] of [[1, 16], [3, 16], [13, 16], [16, 3], [16, 1], [64, 299], [256, 299]]) {
        const M = resampleMatrix(mode, i, o);
        for (let r = 0; r < o; r++) {
          let s = 0;
          for (let c = 0; c < i; c++) s += M[r * i + c];
          // bilinear weights are PyTorch's float32 ones (bilinearTaps): λ0 + λ1 = 1 within float32 rounding
          expect(Math.abs(s - 1), `${mode} ${i}->${o} row ${r}`).toBeLessThan(mode === "bilinear" ? 1.2e-7 : 1e-12);
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
        expect(y).toBeCloseTo((r + 0.5) * (n / o) - 0.5, 6);
      }
    }
  });

  it("bilinear weights are PyTorch's float32 weights, bit for bit", () => {
    // F.interpolate(one-hot rows, size=(1, 10), mode="bilinear", align_corners=False) from 16 columns,
    // Debian's torch 1.13.1 on the CPU: output o takes these two inputs with these float32 weights
    const torch16to10: [number, number, number, number][] = [
      [0, 1, 0.699999988079071, 0.30000001192092896],
      [1, 2, 0.09999996423721313, 0.9000000357627869],
      [3, 4, 0.4999999403953552, 0.5000000596046448],
      [5, 6, 0.8999999165534973, 0.10000008344650269],
      [6, 7, 0.2999998927116394, 0.7000001072883606],
    ];
    const t = bilinearTaps(16, 10);
    torch16to10.forEach(([i0, i1, l0, l1], o) => {
      expect([t.i0[o], t.i1[o], t.l0[o], t.l1[o]], `output ${o}`).toEqual([i0, i1, l0, l1]);
    });
    // float64 arithmetic would give 0.5 / 0.5 at output 2, and a threshold at 0.5 would then decide the other way
    expect(t.l0[2]).not.toBe(0.5);
    const same = bilinearTaps(5, 5);
    expect([Array.from(same.i0), Array.from(same.l0), Array.from(same.l1)]).toEqual([[0, 1, 2, 3, 4], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]);
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
