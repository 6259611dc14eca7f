import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePng, ImageFormatError, type RgbImage, resize2d, writeNpz } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { computeStatistics } from "./compute-statistics.js";
import { evaluate, openEvalInput } from "./evaluate.js";
import type { FeatureExtractor } from "./feature-extractor.js";
import { EvalInputError, imageFolder, npzImages } from "./image-source.js";
import { FeatureStatistics, statisticsToNpz } from "./statistics.js";

const tmp = mkdtempSync(join(tmpdir(), "nextscale-eval-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function image(w: number, h: number, seed: number): RgbImage {
  const data = new Float32Array(w * h * 3).map((_, i) => Math.round(((Math.sin(i * 0.37 + seed * 1.3) + 1) / 2) * 255) / 255);
  return { width: w, height: h, data };
}

/** A tiny domain extractor: per-channel mean and mean square (6-d), no input size (batches of one size). */
const momentExtractor: FeatureExtractor = {
  name: "channel-moments",
  dim: 6,
  async extract(images) {
    const f = tf.tidy(() => tf.concat([tf.mean(images, [1, 2]), tf.mean(tf.square(images), [1, 2])], 1));
    const features = (await f.data()) as Float32Array;
    f.dispose();
    return { features };
  },
};

function moments(im: RgbImage): number[] {
  const s = [0, 0, 0, 0, 0, 0];
  const n = im.width * im.height;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      s[c] += im.data[3 * i + c] / n;
      s[3 + c] += im.data[3 * i + c] ** 2 / n;
    }
  }
  return s;
}

describe("image sources and the streaming pipeline", () => {
  const dir = join(tmp, "mixed");
  mkdirSync(dir);
  const imgs = [image(20, 16, 1), image(20, 16, 2), image(33, 21, 3), image(20, 16, 4), image(17, 40, 5)];
  for (const [i, im] of imgs.entries()) writeFileSync(join(dir, `img${i}.png`), encodePng(im));
  writeFileSync(join(dir, "notes.txt"), "not an image");
  mkdirSync(join(dir, "sub"));

  it("reads a folder of mixed sizes, skips non-images with a warning, and streams statistics with progress", async () => {
    const warnings: string[] = [];
    const set = await imageFolder(dir, { onWarning: (w) => warnings.push(w) });
    expect(set.count).toBe(5);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/skipping 2 entries that are not PNG\/JPEG files \(notes\.txt, sub\/\)/);
    const progress: number[] = [];
    const got = await computeStatistics(set, momentExtractor, { batchSize: 2, keepFeatures: true, onProgress: (p) => progress.push(p.done) });
    expect(got.count).toBe(5);
    expect(progress.at(-1)).toBe(5);
    const want = new FeatureStatistics(6);
    for (const im of imgs) want.add(moments(im));
    const w = want.result();
    expect(Math.max(...got.stats.mu.map((x, i) => Math.abs(x - w.mu[i])))).toBeLessThan(1e-6);
    expect(Math.max(...got.stats.sigma.map((x, i) => Math.abs(x - w.sigma[i])))).toBeLessThan(1e-6);
    expect(got.features).toHaveLength(30);
  });

  it("takes a generator of tensors and batches, splitting and resizing as needed", async () => {
    const resizing: FeatureExtractor = { ...momentExtractor, name: "moments@8", inputSize: [8, 8] };
    async function* gen() {
      yield tf.fill([3, 12, 12, 3], 0.25) as tf.Tensor4D; // a batch of 3
      yield tf.fill([10, 10, 3], 0.5) as tf.Tensor3D;
      yield image(9, 7, 1);
    }
    const done: number[] = [];
    const got = await computeStatistics({ name: "gen", images: gen() }, resizing, { batchSize: 2, onProgress: (p) => done.push(p.done) });
    expect(got.count).toBe(5);
    expect(done).toEqual([2, 4, 5]);
    const last = resize2d(tf.tensor4d(image(9, 7, 1).data, [1, 7, 9, 3]), 8, 8, "bilinear");
    const lastMean = (await tf.mean(last, [0, 1, 2]).data())[0];
    expect(got.stats.mu[0]).toBeCloseTo((0.25 * 3 + 0.5 + lastMean) / 5, 6);
  });

  it("reads arr_0 of an .npz (OpenAI's image batches) in order", async () => {
    const N = 3;
    const data = new Uint8Array(N * 4 * 5 * 3).map((_, i) => (i * 7) % 256);
    const file = join(tmp, "batch.npz");
    writeFileSync(file, writeNpz([["arr_0", { dtype: "uint8", shape: [N, 4, 5, 3], data }]]));
    const set = await npzImages(file);
    expect(set.count).toBe(N);
    const seen: number[] = [];
    for await (const im of set.images) seen.push(...(im as RgbImage).data);
    expect(seen).toEqual(Array.from(data, (v) => Math.fround(v / 255)));
    const input = await openEvalInput(file);
    expect(input.statistics).toBeUndefined();
    expect(input.images).toBeDefined();
  });

  it("reads an OpenAI-style reference batch: statistics for FID, arr_0 images for precision/recall", async () => {
    const N = 6;
    const pixels = new Uint8Array(N * 16 * 20 * 3).map((_, i) => (i * 13 + (i >> 7)) % 256);
    const ref = new FeatureStatistics(6);
    for (let n = 0; n < N; n++) {
      const data = Float32Array.from(pixels.subarray(n * 960, (n + 1) * 960), (v) => v / 255);
      ref.add(moments({ width: 20, height: 16, data }));
    }
    const r = ref.result();
    const f64 = (shape: number[], data: Float64Array) => ({ dtype: "float64" as const, shape, data });
    const file = join(tmp, "VIRTUAL_tiny.npz");
    writeFileSync(
      file,
      writeNpz([
        ["mu", f64([6], r.mu)],
        ["sigma", f64([6, 6], r.sigma)],
        ["mu_s", f64([2], Float64Array.of(0, 1))],
        ["sigma_s", f64([2, 2], Float64Array.of(1, 0, 0, 1))],
        ["arr_0", { dtype: "uint8", shape: [N, 16, 20, 3], data: pixels }],
      ]),
    );
    const a = await openEvalInput(file);
    expect(a.statistics?.stats.mu).toHaveLength(6);
    expect(a.statistics?.spatial?.mu).toHaveLength(2);
    expect(a.images).toBeDefined();
    const res = await evaluate(a, await openEvalInput(dir), { extractor: momentExtractor, precisionRecall: true });
    expect(res.count.A).toBe(N);
    expect(res.precision).toBeGreaterThanOrEqual(0);
    expect(res.sfid).toBeUndefined(); // B has no spatial features with this extractor
    // the file's statistics are the FID reference: the same as from its images here
    const direct = await evaluate({ name: "stats", statistics: a.statistics }, await openEvalInput(dir), { extractor: momentExtractor });
    expect(res.fid).toBeCloseTo(direct.fid, 6);
  });

  it("fails clearly on an empty folder, only non-image files, undecodable formats and corrupt images", async () => {
    const empty = join(tmp, "empty");
    mkdirSync(empty);
    await expect(imageFolder(empty)).rejects.toThrow(/no PNG or JPEG images found \(the folder is empty\)/);
    const texts = join(tmp, "texts");
    mkdirSync(texts);
    writeFileSync(join(texts, "a.txt"), "x");
    await expect(imageFolder(texts)).rejects.toThrow(EvalInputError);
    await expect(imageFolder(texts)).rejects.toThrow(/no PNG or JPEG images found \(1 other entry: a\.txt\)/);
    const webp = join(tmp, "webp");
    mkdirSync(webp);
    writeFileSync(join(webp, "a.png"), encodePng(image(4, 4, 0)));
    writeFileSync(join(webp, "b.webp"), "RIFF");
    await expect(imageFolder(webp)).rejects.toThrow(/b\.webp.*only PNG and JPEG are supported/);
    const corrupt = join(tmp, "corrupt");
    mkdirSync(corrupt);
    writeFileSync(join(corrupt, "bad.png"), "definitely not a png");
    const set = await imageFolder(corrupt);
    await expect(computeStatistics(set, momentExtractor)).rejects.toThrow(ImageFormatError);
    await expect(imageFolder(join(tmp, "missing"))).rejects.toThrow(/no such folder/);
  });

  it("fails clearly on out-of-range pixels, a misbehaving extractor and mismatched extractors", async () => {
    await expect(computeStatistics({ name: "bytes", images: [tf.fill([2, 8, 8, 3], 255) as tf.Tensor4D] }, momentExtractor)).rejects.toThrow(
      /must lie in \[0, 1\].*divide 8-bit pixels by 255/,
    );
    const broken: FeatureExtractor = { ...momentExtractor, dim: 7 };
    await expect(computeStatistics({ name: "x", images: [tf.zeros([2, 8, 8, 3]) as tf.Tensor4D] }, broken)).rejects.toThrow(
      /returned 12 feature values for 2 images; expected 2 × 7/,
    );
    await expect(computeStatistics({ name: "one", images: [tf.zeros([1, 8, 8, 3]) as tf.Tensor4D] }, momentExtractor)).rejects.toThrow(
      /need at least 2/,
    );
    await expect(computeStatistics({ name: "none", images: [] }, momentExtractor)).rejects.toThrow(/no images/);
    // statistics of another extractor (or dimension) are refused
    const s = new FeatureStatistics(6);
    s.add([0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 2, 1, 0, 1, 2, 3]);
    const file = join(tmp, "other.npz");
    writeFileSync(file, statisticsToNpz({ stats: s.result(), extractor: "some-other-net" }));
    const a = await openEvalInput(file);
    expect(a.statistics?.extractor).toBe("some-other-net");
    const b = await openEvalInput(dir);
    await expect(evaluate(a, b, { extractor: momentExtractor })).rejects.toThrow(/different feature extractors/);
    const s3 = new FeatureStatistics(3);
    s3.add([0, 0, 0, 1, 2, 3, 2, 1, 0]);
    writeFileSync(file, statisticsToNpz({ stats: s3.result() }));
    await expect(evaluate(await openEvalInput(file), b, { extractor: momentExtractor })).rejects.toThrow(/feature dimensions differ: 3 vs 6/);
    await expect(evaluate(b, b, {})).rejects.toThrow(/needs a feature extractor/);
    await expect(evaluate(await openEvalInput(file), await openEvalInput(file), { inceptionScore: true })).rejects.toThrow(
      /Inception Score needs images/,
    );
  });

  it("compares two folders with a domain extractor (FID, precision/recall)", async () => {
    const other = join(tmp, "other");
    mkdirSync(other);
    for (const s of [6, 7, 8, 9, 10]) writeFileSync(join(other, `o${s}.png`), encodePng(image(20, 16, s)));
    const r = await evaluate(await openEvalInput(dir), await openEvalInput(other), { extractor: momentExtractor, precisionRecall: true });
    expect(r.fid).toBeGreaterThan(0);
    expect(r.count).toEqual({ A: 5, B: 5 });
    expect(r.precision).toBeGreaterThanOrEqual(0);
    expect(r.recall).toBeLessThanOrEqual(1);
    const same = await evaluate(await openEvalInput(dir), await openEvalInput(dir), { extractor: momentExtractor });
    expect(Math.abs(same.fid)).toBeLessThan(1e-9);
  });
});
