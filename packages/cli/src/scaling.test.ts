/**
 * `nextscale scaling` on a tiny ladder (depths 1 and 2, two steps of 8
 * images each, the Fashion-MNIST slice through the default model's
 * tokenizer): scaling.json with every run and fit, the PNG and SVG figures,
 * a rerun that reads the finished runs instead of training, and the flag
 * errors that come before any work.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeImage } from "@nextscale/core";
import { FIXTURES } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

const SLICE = join(FIXTURES, "fashion-mnist-slice");
const VAE = join(__dirname, "..", "..", "model-fashion-mnist", "weights", "vae.safetensors");
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cli-scaling-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const args = (out: string) => ["scaling", "--data", SLICE, "--test", SLICE, "--limit", "16", "--test-limit", "8", "--vqvae", VAE, "--depths", "1,2", "--images", "16", "--batch", "8", "--backend", tf.getBackend(), "--out", out];

describe("nextscale scaling", () => {
  it("a 2-depth ladder: scaling.json, PNG and SVG figures; a rerun reads the finished runs", async () => {
    const out = join(dir, "ladder");
    const t0 = performance.now();
    const r = await runCli(args(out));
    const seconds = (performance.now() - t0) / 1000;
    console.log(`[scaling] tiny ladder in ${seconds.toFixed(1)} s\n${r.out}`);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(readFileSync(join(out, "scaling.json"), "utf8"));
    expect(j.format).toBe("nextscale-scaling");
    expect(j.runs.map((x: { depth: number; params: number; steps: number }) => [x.depth, x.steps])).toEqual([
      [1, 2],
      [2, 2],
    ]);
    expect(j.runs[1].params).toBeGreaterThan(j.runs[0].params);
    for (const x of j.runs) {
      expect(x.test.images).toBe(8);
      expect(x.test.loss).toBeGreaterThan(0);
      expect(x.test.errorRate).toBeGreaterThan(0);
      expect(x.test.errorRate).toBeLessThanOrEqual(1);
    }
    expect(Number.isFinite(j.laws.loss.params.alpha)).toBe(true);
    expect(Math.abs(j.laws.loss.params.pearson)).toBeCloseTo(1, 6); // two points lie on a line
    expect(j.next.depth).toBe(3);
    expect(r.out).toMatch(/predicted d3 \(\d+ params\): test loss \d/);
    for (const name of ["loss-vs-params.png", "loss-vs-compute.png"]) {
      const img = await decodeImage(readFileSync(join(out, name)));
      expect([img.width, img.height]).toEqual([800, 500]);
    }
    for (const name of ["loss-vs-params.svg", "loss-vs-compute.svg"]) {
      const svg = readFileSync(join(out, name), "utf8");
      expect(svg.startsWith("<svg ")).toBe(true);
      expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
      expect(svg).toContain("VAR scaling: ");
    }
    const again = await runCli(args(out));
    expect(again.code, again.err).toBe(0);
    expect(again.err).toContain("d1: done before: test loss");
    expect(again.err).not.toContain("steps, resuming");
    expect(JSON.parse(readFileSync(join(out, "scaling.json"), "utf8")).runs).toEqual(j.runs);
  }, 120_000);

  it("flag errors before any work", async () => {
    const base = ["scaling", "--data", SLICE, "--vqvae", VAE, "--out", join(dir, "bad")];
    const cases: [string[], RegExp][] = [
      [[...base, "--images", "8"], /--depths is required/],
      [[...base, "--depths", "2", "--images", "8"], /at least 2 depths/],
      [[...base, "--depths", "1,2"], /exactly one of --images, --tokens, --compute/],
      [[...base, "--depths", "1,2", "--images", "8", "--compute", "1e9"], /exactly one of/],
      [[...base, "--depths", "1,2", "--holdout-depth", "2", "--images", "8"], /also in --depths/],
      [[...base, "--depths", "1,x", "--images", "8"], /--depths must be positive integers/],
      [[...base, "--depths", "1,2", "--images", "-3"], /--images must be a positive number/],
    ];
    for (const [a, want] of cases) {
      const r = await runCli(a);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(want);
    }
  });
});
