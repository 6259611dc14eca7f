import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

const COLOURS: Record<string, [number, number, number]> = { r: [0.9, 0.1, 0.2], g: [0.1, 0.8, 0.3], b: [0.2, 0.1, 0.7] };

/** A folder of 16×16 images of one colour each (file name → "r", "g" or "b"): a mean-RGB classifier sees class 0, 1 or 2 in them. */
function colourFolder(name: string, images: Record<string, string>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const [file, c] of Object.entries(images)) {
    const data = new Float32Array(16 * 16 * 3).map((_, i) => COLOURS[c][i % 3] + 0.05 * Math.sin(i * 0.7));
    writeFileSync(join(dir, file), encodePng({ width: 16, height: 16, data }));
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

  it("--accuracy with Inception: the file names' classes are read as indices of its 1008 outputs", async () => {
    const dir = join(tmp, "inception-acc");
    mkdirSync(dir);
    for (const [i, name] of ["3_0.png", "1007_0.png"].entries()) {
      const data = new Float32Array(32 * 32 * 3).map((_, k) => (Math.sin(k * 0.1 * (i + 2)) + 1) / 2);
      writeFileSync(join(dir, name), encodePng({ width: 32, height: 32, data }));
    }
    const r = await run(["fid", dir, "--accuracy", "--inception-weights", weights, "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.accuracy.count).toBe(2);
    expect(j.accuracy.per_class.map((c: { class: number }) => c.class)).toEqual([3, 1007]);
    writeFileSync(join(dir, "1008_0.png"), readFileSync(join(dir, "3_0.png")));
    const bad = await run(["fid", dir, "--accuracy", "--inception-weights", weights]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/1008_0\.png: class 1008 \(from its file name\) is not a class of the classifier, which has 1008 \(0…1007\)/);
  });

  it("--merge: the statistics of shards (i mod 2) merge into those of one run; the FID against them is the same", async () => {
    const seeds = [11, 12, 13, 14, 15, 16];
    const all = folder("all", seeds);
    const shard0 = folder("shard0", seeds.filter((_, i) => i % 2 === 0));
    const shard1 = folder("shard1", seeds.filter((_, i) => i % 2 === 1));
    const f = (name: string) => join(tmp, name);
    const w = ["--inception-weights", weights];
    // batches of different sizes on purpose: the features of an image must not depend on its batch
    expect((await run(["fid", all, "--save-stats", f("all.npz"), "--batch", "4", ...w])).code).toBe(0);
    expect((await run(["fid", shard0, "--save-stats", f("s0.npz"), "--batch", "2", ...w])).code).toBe(0);
    expect((await run(["fid", shard1, "--save-stats", f("s1.npz"), ...w])).code).toBe(0);
    const m = await run(["fid", "--merge", f("s0.npz"), f("s1.npz"), "--save-stats", f("merged.npz"), "--json"]);
    expect(m.code, m.err).toBe(0);
    expect(JSON.parse(m.out)).toMatchObject({ count: 6, parts: [{ count: 3 }, { count: 3 }] });
    expect(m.err).toMatch(/merged 2 statistics files \(3 \+ 3 = 6 images\)/);
    const [one, merged] = await Promise.all([loadStatistics(readFileSync(f("all.npz"))), loadStatistics(readFileSync(f("merged.npz")))]);
    expect(merged.stats.count).toBe(6);
    expect(merged.extractor).toBe(one.extractor);
    const maxRel = (a: Float64Array, b: Float64Array) => {
      let err = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        err = Math.max(err, Math.abs(a[i] - b[i]));
        scale = Math.max(scale, Math.abs(a[i]));
      }
      return err / scale;
    };
    const errs = {
      mu: maxRel(one.stats.mu, merged.stats.mu),
      sigma: maxRel(one.stats.sigma, merged.stats.sigma),
      mu_s: maxRel(one.spatial!.mu, merged.spatial!.mu),
      sigma_s: maxRel(one.spatial!.sigma, merged.spatial!.sigma),
    };
    expect(Math.max(...Object.values(errs))).toBeLessThan(1e-12);
    // the FID (and sFID) of a reference set against the merged statistics equals the one against one run's
    expect((await run(["fid", folder("ref", [1, 2, 3, 7, 9]), "--save-stats", f("ref.npz"), ...w])).code).toBe(0);
    const fid1 = JSON.parse((await run(["fid", f("ref.npz"), f("all.npz"), "--json"])).out);
    const fid2 = JSON.parse((await run(["fid", f("ref.npz"), f("merged.npz"), "--json"])).out);
    console.log(
      `[merge] 6 images as one run vs shards 0/2 + 1/2 merged: max difference of mu ${errs.mu.toExponential(2)}, sigma ${errs.sigma.toExponential(2)}, mu_s ${errs.mu_s.toExponential(2)}, sigma_s ${errs.sigma_s.toExponential(2)} (of their scale); FID ${fid1.fid} vs ${fid2.fid} (${Math.abs(fid1.fid - fid2.fid).toExponential(2)}), sFID ${fid1.sfid} vs ${fid2.sfid} (${Math.abs(fid1.sfid - fid2.sfid).toExponential(2)})`,
    );
    expect(Math.abs(fid2.fid - fid1.fid) / fid1.fid).toBeLessThan(1e-9);
    expect(Math.abs(fid2.sfid - fid1.sfid) / fid1.sfid).toBeLessThan(1e-9);
  });

  it("--merge fails clearly: no --save-stats, no files, files without counts, missing files", async () => {
    let r = await run(["fid", "--merge", join(tmp, "x.npz")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/pass --save-stats all\.npz/);
    r = await run(["fid", "--merge", "--save-stats", join(tmp, "m.npz")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/needs the statistics files/);
    const noCount = join(tmp, "nocount.npz");
    writeFileSync(noCount, statisticsToNpz({ stats: { mu: new Float64Array(2), sigma: Float64Array.of(1, 0, 0, 1) } })); // like OpenAI's reference batches
    const withCount = statsFile("withcount.npz", [
      [0, 1],
      [1, 0],
    ]);
    r = await run(["fid", "--merge", withCount, noCount, "--save-stats", join(tmp, "m.npz")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nocount\.npz statistics: no sample count/);
    r = await run(["fid", "--merge", withCount, join(tmp, "missing.npz"), "--save-stats", join(tmp, "m.npz")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/missing\.npz/);
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

describe("nextscale fid checks what a run needs before embedding any image", () => {
  let A: string;
  let B: string;
  /** A domain extractor module that counts its calls in globalThis (the CLI runs in this process); with `logits`, numClasses 3. */
  const extractorModule = (name: string, logits: boolean) => {
    const file = join(tmp, name);
    writeFileSync(
      file,
      `export default {
  name: "mean-rgb${logits ? "-logits" : ""}",
  dim: 3,${logits ? "\n  numClasses: 3," : ""}
  async extract(images, want) {
    globalThis.__nextscaleExtractCalls = (globalThis.__nextscaleExtractCalls ?? 0) + 1;
    const [n, h, w] = images.shape;
    const x = await images.data();
    const f = new Float32Array(n * 3);
    for (let i = 0; i < x.length; i++) f[Math.floor(i / (h * w * 3)) * 3 + (i % 3)] += x[i] / (h * w);
    return ${logits ? "want.logits ? { features: f, logits: f } : { features: f }" : "{ features: f }"};
  },
};
`,
    );
    return file;
  };
  const calls = () => (globalThis as { __nextscaleExtractCalls?: number }).__nextscaleExtractCalls ?? 0;
  beforeAll(() => {
    A = folder("checks-a", [21, 22, 23, 24]);
    B = folder("checks-b", [25, 26, 27, 28]);
  });

  /** Run with bad input, --save-stats into a fresh folder: the exit code, the message, no features computed, no file left. */
  async function refused(name: string, args: (out: string) => string[], code: number, message: RegExp) {
    const d = join(tmp, name);
    mkdirSync(d);
    const before = calls();
    const r = await run(["fid", ...args(join(d, "stats.npz"))]);
    expect(r.code, r.err).toBe(code);
    expect(r.err).toMatch(message);
    expect(calls()).toBe(before); // no image was embedded
    expect(r.err).not.toMatch(/[AB] \[/); // no progress bar started
    expect(readdirSync(d)).toEqual([]); // no output, not even a temporary file
    return r;
  }

  it("--is with a --features extractor that has no logits", async () => {
    const mod = extractorModule("no-logits.mjs", false);
    await refused(
      "is-no-logits",
      () => [A, B, "--features", mod, "--is"],
      1,
      /--is: the Inception Score needs classifier logits, but the feature extractor "mean-rgb" of --features .*no-logits\.mjs has none \(it declares no numClasses\)/,
    );
    await refused("is-no-logits-save", (out) => [A, B, "--features", mod, "--is", "--save-stats", out], 1, /Inception Score needs classifier logits/);
    // with logits it works; --pr needs only the features
    const withLogits = extractorModule("logits.mjs", true);
    const r = await run(["fid", A, B, "--features", withLogits, "--is", "--splits", "1", "--pr", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(Number.isFinite(j.is) && Number.isFinite(j.precision)).toBe(true);
  });

  it("--accuracy: B's images scored on the classes of their file names (text, --json); with one input, only that", async () => {
    const mod = extractorModule("acc.mjs", true); // logits = the mean colour, numClasses 3
    // class 0: both red (right); class 1: green, red (one right); class 2: blue, green (one right)
    const images = { "0_0.png": "r", "0_1.png": "r", "1_0.png": "g", "1_1.png": "r", "2_0.png": "b", "2_1.png": "g" };
    const B6 = colourFolder("acc-b", images);
    const perClass = [
      { class: 0, count: 2, correct: 2, accuracy: 1 },
      { class: 1, count: 2, correct: 1, accuracy: 0.5 },
      { class: 2, count: 2, correct: 1, accuracy: 0.5 },
    ];
    const lines = "Accuracy: 0.667 (4/6)\n  class 0: 1.000 (2/2)\n  class 1: 0.500 (1/2)\n  class 2: 0.500 (1/2)\n";
    let r = await run(["fid", A, B6, "--features", mod, "--accuracy"]); // A's names carry no class: A needs none
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^FID: \d/);
    expect(r.out.slice(r.out.indexOf("Accuracy"))).toBe(lines);
    r = await run(["fid", A, B6, "--features", mod, "--accuracy", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(Number.isFinite(j.fid)).toBe(true);
    expect(j.accuracy).toEqual({ accuracy: 4 / 6, correct: 4, count: 6, per_class: perClass });
    expect(j.count).toEqual({ A: 4, B: 6 });
    expect((await run(["fid", A, B6, "--features", mod, "--json"])).out).not.toMatch(/accuracy/);
    // one input: only its accuracy, no --save-stats needed
    r = await run(["fid", B6, "--features", mod, "--accuracy"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(lines);
    expect(r.err).toMatch(/A \[#+\] 6\/6 100%/);
    const d = join(tmp, "acc-save");
    mkdirSync(d);
    r = await run(["fid", B6, "--features", mod, "--accuracy", "--json", "--save-stats", join(d, "b.npz")]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ accuracy: { accuracy: 4 / 6, correct: 4, count: 6, per_class: perClass }, count: 6, extractor: "mean-rgb-logits", saved: join(d, "b.npz") });
    expect(readdirSync(d)).toEqual(["b.npz"]);
    const saved = await loadStatistics(readFileSync(join(d, "b.npz")));
    expect(saved.stats.count).toBe(6);
    expect(saved.extractor).toBe("mean-rgb-logits");
    // one input without --accuracy or --save-stats
    r = await run(["fid", B6, "--features", mod]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/with one input, pass --save-stats out\.npz \(its statistics\) or --accuracy/);
  });

  it("--pr with 3 or fewer images in a set", async () => {
    const few = folder("checks-few", [31, 32, 33]);
    await refused("pr-few", () => [A, few, "--features", extractorModule("pr.mjs", false), "--pr"], 1, /--pr: .*checks-few has 3 images; precision\/recall needs more than k = 3 images in each set/);
  });

  it("--save-stats into a missing folder or not as .npz (also with --merge)", async () => {
    const mod = extractorModule("save.mjs", false);
    await refused("save-missing", (out) => [A, "--features", mod, "--save-stats", join(out, "..", "nope", "s.npz")], 1, /--save-stats .*s\.npz: the folder .*nope does not exist \(create it first\)/);
    await refused("save-json", (out) => [A, "--features", mod, "--save-stats", out.replace(/\.npz$/, ".json")], 1, /--save-stats .*stats\.json: nextscale does not write "\.json"; it writes NPZ: name the file .*stats\.npz/);
    const s = statsFile("checks-s.npz", [
      [0, 1],
      [1, 0],
      [1, 1],
    ]);
    await refused("merge-missing", (out) => ["--merge", s, s, "--save-stats", join(out, "..", "nope", "m.npz")], 1, /--save-stats .*m\.npz: the folder .*nope does not exist/);
    await refused("merge-jpg", (out) => ["--merge", s, s, "--save-stats", out.replace(/\.npz$/, ".jpg")], 1, /does not write JPEG; it writes NPZ/);
    // a good run writes the file and nothing else
    const d = join(tmp, "save-ok");
    mkdirSync(d);
    const ok = await run(["fid", A, "--features", mod, "--save-stats", join(d, "a.npz")]);
    expect(ok.code, ok.err).toBe(0);
    expect(readdirSync(d)).toEqual(["a.npz"]);
  });

  it("--accuracy: an extractor without logits, statistics only, a file name without a class or with one the classifier lacks", async () => {
    const noLogits = extractorModule("acc-no-logits.mjs", false);
    const logits = extractorModule("acc-logits.mjs", true); // numClasses 3
    const labelled = colourFolder("acc-checks", { "0_0.png": "r", "1_0.png": "g", "2_0.png": "b" });
    await refused(
      "acc-no-logits",
      () => [A, labelled, "--features", noLogits, "--accuracy"],
      1,
      /--accuracy: the accuracy on the class asked for needs classifier logits, but the feature extractor "mean-rgb" of --features .*acc-no-logits\.mjs has none \(it declares no numClasses\)/,
    );
    await refused("acc-no-logits-one", (out) => [labelled, "--features", noLogits, "--accuracy", "--save-stats", out], 1, /--accuracy: .*needs classifier logits/);
    const s = statsFile("acc-stats.npz", [
      [0, 1, 2],
      [1, 0, 2],
      [2, 2, 0],
    ]);
    await refused("acc-stats", () => [A, s, "--features", logits, "--accuracy"], 1, /acc-stats\.npz: --accuracy needs images, but this input holds only statistics/);
    await refused("acc-stats-one", () => [s, "--features", logits, "--accuracy"], 1, /acc-stats\.npz: --accuracy needs images, but this input holds only statistics/);
    const unnamed = colourFolder("acc-unnamed", { "0_0.png": "r", "1_0.png": "g", "green.png": "g" });
    await refused(
      "acc-unnamed-out",
      () => [A, unnamed, "--features", logits, "--accuracy"],
      1,
      /acc-unnamed\/green\.png: the accuracy on the class asked for needs each image's class from its file name, but this one has none \(1 of 3 images in .*\); name the files <class>_<i>\.png \(e\.g\. 3_17\.png\), as `nextscale generate --out-dir` writes them/,
    );
    // found before any weights are needed
    const w = await run(["fid", unnamed, "--accuracy"], { NEXTSCALE_INCEPTION_WEIGHTS: undefined });
    expect(w.code).toBe(1);
    expect(w.err).toMatch(/green\.png: the accuracy on the class asked for needs each image's class/);
    await refused("acc-uncond", () => [colourFolder("acc-uncond-dir", { "0_0.png": "r", "uncond_0.png": "g" }), "--features", logits, "--accuracy"], 1, /uncond_0\.png: .*\(the 1 uncond_<i>\.png are unconditional/);
    await refused(
      "acc-class",
      (out) => [A, colourFolder("acc-class-dir", { "0_0.png": "r", "3_0.png": "g" }), "--features", logits, "--accuracy", "--save-stats", out],
      1,
      /acc-class-dir\/3_0\.png: class 3 \(from its file name\) is not a class of the classifier, which has 3 \(0…2\)/,
    );
  });
});
