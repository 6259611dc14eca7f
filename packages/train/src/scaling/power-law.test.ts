/**
 * The scaling fits on synthetic runs: a known law L = (β·N)^α with
 * multiplicative noise is recovered (α, β, Pearson r), its 95% interval
 * holds the true α, exact points give r = −1 and a zero-width interval, and
 * the frontier is the lower envelope of the curves. Also the figures' files:
 * PNG signature and size, SVG with its title, axis labels and legend.
 */
import { decodeImage, Random } from "@nextscale/core";
import { describe, expect, it } from "vitest";
import { analyzeScaling, scalingPlotFiles } from "./analysis.js";
import type { LadderRun } from "./ladder.js";
import { computeFrontier, fitPowerLaw, powerLaw, studentT975, trainingFlops } from "./power-law.js";

const ALPHA = -0.076; // the paper's test-loss exponent against N
const BETA = 1e-9;

describe("fitPowerLaw", () => {
  it("recovers exact points: α, β, r = −1, zero-width interval", () => {
    const xs = [1e5, 3e5, 1e6, 3e6, 1e7];
    const f = fitPowerLaw(
      xs,
      xs.map((x) => powerLaw({ alpha: ALPHA, beta: BETA }, x)),
    );
    console.log(`[scaling] exact: alpha ${f.alpha}, beta ${f.beta}, r ${f.pearson}, CI ${f.alphaCI}`);
    expect(f.alpha).toBeCloseTo(ALPHA, 10);
    expect(Math.abs(Math.log(f.beta / BETA))).toBeLessThan(1e-6);
    expect(f.pearson).toBeCloseTo(-1, 10);
    expect(f.alphaCI[1] - f.alphaCI[0]).toBeLessThan(1e-6); // float rounding of the logs
  });

  it("with 2% noise over 12 sizes: α within its 95% interval, r near −0.99, the interval of the ordinary least-squares slope", () => {
    const rng = new Random(7);
    const xs = Array.from({ length: 12 }, (_, i) => 1e5 * 1.6 ** i);
    const ys = xs.map((x) => powerLaw({ alpha: ALPHA, beta: BETA }, x) * Math.exp(0.02 * (rng.random() * 2 - 1)));
    const f = fitPowerLaw(xs, ys);
    console.log(`[scaling] noisy: alpha ${f.alpha.toFixed(4)} (true ${ALPHA}), CI [${f.alphaCI.map((v) => v.toFixed(4))}], r ${f.pearson.toFixed(4)}, se ${f.alphaStdErr.toFixed(5)}`);
    expect(f.alphaCI[0]).toBeLessThan(ALPHA);
    expect(f.alphaCI[1]).toBeGreaterThan(ALPHA);
    expect(Math.abs(f.alpha - ALPHA)).toBeLessThan(0.01);
    expect(f.pearson).toBeLessThan(-0.97);
    expect(f.alphaCI[1] - f.alpha).toBeCloseTo(studentT975(10) * f.alphaStdErr, 12);
    expect(studentT975(10)).toBe(2.228);
  });

  it("a nearly flat law (β out of float range) still predicts through ln β", () => {
    const f = fitPowerLaw([1e5, 1e6], [6.2, 6.18]);
    console.log(`[scaling] flat: alpha ${f.alpha}, beta ${f.beta}, ln beta ${f.logBeta}`);
    expect(f.beta === 0 || !Number.isFinite(f.beta)).toBe(true);
    expect(powerLaw(f, 1e5)).toBeCloseTo(6.2, 10);
    expect(powerLaw(f, 1e7)).toBeCloseTo(6.2 * (6.18 / 6.2) ** 2, 10);
  });

  it("refuses too few points and non-positive values", () => {
    expect(() => fitPowerLaw([1], [1])).toThrow(/at least 2/);
    expect(() => fitPowerLaw([1, 2], [1, 0])).toThrow(/positive/);
    expect(() => fitPowerLaw([2, 2], [1, 3])).toThrow(/equal/);
  });
});

describe("computeFrontier", () => {
  it("is the lower envelope, naming the best run at each compute", () => {
    const f = computeFrontier([
      { run: "small", points: [{ compute: 1, loss: 5 }, { compute: 2, loss: 4 }, { compute: 4, loss: 3.8 }] },
      { run: "big", points: [{ compute: 3, loss: 4.5 }, { compute: 6, loss: 3.5 }, { compute: 12, loss: 3 }] },
    ]);
    expect(f.map((p) => [p.run, p.compute, p.loss])).toEqual([
      ["small", 1, 5],
      ["small", 2, 4],
      ["small", 4, 3.8],
      ["big", 6, 3.5],
      ["big", 12, 3],
    ]);
  });
});

/** Runs lying on a known law of N, with curves falling to their end values. */
function syntheticRuns(depths: number[]): LadderRun[] {
  return depths.map((d) => {
    const params = 2e4 * d ** 3;
    const tokens = 1e6;
    const flops = trainingFlops(params, tokens);
    const loss = powerLaw({ alpha: ALPHA, beta: BETA }, params);
    const test = { loss, tailLoss: loss * 1.3, errorRate: loss / 10, tailErrorRate: loss / 8, images: 100 };
    const curve = Array.from({ length: 10 }, (_, i) => ({ compute: (flops * (i + 1)) / 10, loss: loss * (1 + 2 / (i + 1)) }));
    return { depth: d, width: 64 * d, heads: d, params, steps: 10, batchSize: 8, tokensPerImage: 140, tokens, flops, test, curve, trainSeconds: 1 };
  });
}

describe("analyzeScaling", () => {
  it("fits every metric, predicts the held-out size, and writes well-formed PNG and SVG figures", async () => {
    const runs = syntheticRuns([1, 2, 3, 4, 5, 6]);
    const a = analyzeScaling(runs, { holdout: [6], next: { depth: 6, params: runs[5].params } });
    console.log(`[scaling] synthetic ladder: loss alpha ${a.laws.loss.params.alpha}, held-out error ${a.heldOut[0].relativeError}`);
    expect(a.fitted).toEqual([1, 2, 3, 4, 5]);
    expect(a.laws.loss.params.alpha).toBeCloseTo(ALPHA, 10);
    expect(a.laws.tailLoss.params.alpha).toBeCloseTo(ALPHA, 10);
    expect(a.laws.loss.compute.alpha).toBeCloseTo(ALPHA, 10); // the same tokens per run: C ∝ N
    expect(Math.abs(a.heldOut[0].relativeError)).toBeLessThan(1e-9);
    expect(a.next!.loss).toBeCloseTo(runs[5].test.loss, 10);
    expect(a.frontier.length).toBeGreaterThan(0);
    const files = scalingPlotFiles(runs, a, "synthetic");
    for (const name of ["loss-vs-params.png", "loss-vs-compute.png"]) {
      const img = await decodeImage(files[name] as Uint8Array);
      expect([img.width, img.height]).toEqual([800, 500]);
    }
    for (const name of ["loss-vs-params.svg", "loss-vs-compute.svg"]) {
      const svg = files[name] as string;
      expect(svg.startsWith("<svg ")).toBe(true);
      expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
      expect(svg).toContain("synthetic: ");
      expect(svg).toContain("log)</text>");
      expect(svg).toMatch(/L = \(.*\)\^-0\.076, r -1\.000/);
    }
    expect(files["loss-vs-compute.svg"] as string).toContain("frontier");
  });
});
