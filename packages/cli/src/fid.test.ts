import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePng, writeSafetensors } from "@nextscale/core";
import { FeatureStatistics, FidInceptionV3, hashedInceptionWeights, loadStatistics, statisticsToNpz } from "@nextscale/eval";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

/** runCli with environment variables set for the call (undefined = unset), then restored. */
async function run(args: string[], env: Record<string, string | undefined> = {}) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const apply = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(env);
  try {
    return await runCli(args);
  } finally {
    apply(saved);
  }
}

const tmp = mkdtempSync(join(tmpdir(), "nextscale-fid-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function folder(name: string, seeds: number[], size = 32): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const s of seeds) {
    const data = new Float32Array(size * size * 3).map((_, i) => (Math.sin(i * 0.1 * s + s) + 1) / 2);
    writeFileSync(join(dir, `${s}.png`), encodePng({ width: size, height: size, data }));
  }
  return dir;
}

function statsFile(name: string, rows: number[][]): string {
  const s = new FeatureStatistics(rows[0].length);
  for (const r of rows) s.add(r);
  const file = join(tmp, name);
  writeFileSync(file, statisticsToNpz({ stats: s.result() }));
  return file;
}

describe("nextscale fid", () => {
  let A: string;
  let B: string;
  let weights: string;
  beforeAll(() => {
    A = folder("a", [1, 2, 3, 7]);
    B = folder("b", [4, 5, 6, 8]);
    weights = join(tmp, "inception.safetensors");
    // the FID bundle's hashed weights stand in for pt_inception-2015-12-05-6726825d.pth
    writeFileSync(weights, writeSafetensors(hashedInceptionWeights(Object.entries(new FidInceptionV3().stateDictShapes()))));
  });

  it("without weights, says where to get pt_inception-2015-12-05-6726825d.pth and how to pass it", async () => {
    const r = await run(["fid", A, B], { NEXTSCALE_INCEPTION_WEIGHTS: undefined });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/pt_inception-2015-12-05-6726825d\.pth/);
    expect(r.err).toMatch(/--inception-weights/);
    expect(r.err).toMatch(/never downloaded automatically/);
  });

  it("computes FID, sFID, IS and precision/recall as JSON; saved statistics give the same FID", async () => {
    const r = await run(["fid", A, B, "--inception-weights", weights, "--json", "--is", "--pr", "--batch", "2", "--splits", "1"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    for (const k of ["fid", "sfid", "is", "precision", "recall"]) expect(Number.isFinite(j[k]), k).toBe(true);
    expect(j.fid).toBeGreaterThan(0);
    expect(j.count).toEqual({ A: 4, B: 4 });
    expect(r.err).toMatch(/B \[#+\] 4\/4 100%/); // progress on stderr
    const saved = join(tmp, "a.npz");
    const s = await run(["fid", A, "--save-stats", saved, "--inception-weights", weights]);
    expect(s.code, s.err).toBe(0);
    const stats = await loadStatistics(readFileSync(saved));
    expect(stats.stats.mu).toHaveLength(2048);
    expect(stats.spatial?.mu).toHaveLength(2023);
    expect(stats.stats.count).toBe(4);
    const again = await run(["fid", saved, B, "--inception-weights", weights, "--json"]);
    expect(again.code, again.err).toBe(0);
    const k = JSON.parse(again.out);
    expect(Math.abs(k.fid - j.fid) / j.fid).toBeLessThan(1e-9);
    expect(Math.abs(k.sfid - j.sfid) / j.sfid).toBeLessThan(1e-9);
  });

  it("takes a domain feature extractor module instead of Inception", async () => {
    const mod = join(tmp, "features.mjs");
    writeFileSync(
      mod,
      `export default {
  name: "mean-rgb",
  dim: 3,
  async extract(images) {
    const [n, h, w] = images.shape;
    const x = await images.data();
    const f = new Float32Array(n * 3);
    for (let i = 0; i < x.length; i++) f[Math.floor(i / (h * w * 3)) * 3 + (i % 3)] += x[i] / (h * w);
    return { features: f };
  },
};
`,
    );
    const r = await run(["fid", A, B, "--features", mod]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^FID: \d/);
    expect(r.out).not.toMatch(/sFID/);
  });

  it("fails clearly on an empty folder, mismatched dimensions, bad weights and bad flags", async () => {
    const empty = join(tmp, "empty");
    mkdirSync(empty);
    let r = await run(["fid", empty, B], { NEXTSCALE_INCEPTION_WEIGHTS: undefined }); // found before any weights are needed
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no PNG or JPEG images found/);
    const s3 = statsFile("three.npz", [
      [0, 1, 2],
      [1, 0, 2],
      [2, 2, 0],
    ]);
    const s4 = statsFile("four.npz", [
      [0, 1, 2, 3],
      [1, 0, 2, 1],
      [2, 2, 0, 1],
    ]);
    r = await run(["fid", s3, s4]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/feature dimensions differ: 3 vs 4/);
    const partial = join(tmp, "partial.safetensors");
    const w = hashedInceptionWeights(Object.entries(new FidInceptionV3().stateDictShapes()));
    w.delete("fc.weight");
    writeFileSync(partial, writeSafetensors(w));
    r = await run(["fid", A, B, "--inception-weights", partial]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/missing keys \(1\): fc\.weight/);
    r = await run(["fid", A, B, "--preprocess", "keras"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--preprocess must be pytorch-fid or tf/);
    r = await run(["fid", A]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--save-stats/);
    r = await run(["fid", s3, s3, "--is"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/needs images/);
  });
});
