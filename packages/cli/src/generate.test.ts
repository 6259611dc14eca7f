import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeImage, encodePng, imageGrid, type RgbImage, toUint8Rgb } from "@nextscale/core";
import { imageLabel } from "@nextscale/sampler";
import { referenceBundles } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { classText, defaultBatch, drawnClassesLine, parseClasses } from "./commands/generate.js";
import { UsageError } from "./commands/types.js";
import { runCli } from "./run.testutil.js";
import { thousandClassVar } from "./thousand-classes.testutil.js";

const bundle = referenceBundles()[0];
const models = ["--vae", bundle.file("vae.pth"), "--var", bundle.file("var.pth")];
const S: number = bundle.meta.config.reso;

const run = runCli;

describe("nextscale generate", () => {
  const dir = mkdtempSync(join(tmpdir(), "ns-gen-"));

  it("writes <class>_<index>.png per image with --out-dir, with progress on stderr", async () => {
    const r = await run(["generate", ...models, "--class", "1", "--class", "3", "--n-per-class", "2", "--seed", "5", "--out-dir", join(dir, "imgs"), "--backend", process.env.NEXTSCALE_BACKEND ?? "wasm"]);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(join(dir, "imgs")).sort()).toEqual(["1_0.png", "1_1.png", "3_0.png", "3_1.png"]);
    const img = decodeImage(readFileSync(join(dir, "imgs", "1_0.png")));
    expect([img.width, img.height]).toEqual([S, S]);
    expect(r.err).toMatch(/generate \[#+\] .*ETA/);
  });

  it("the same seed writes the same grid bytes; another seed does not", async () => {
    const g = (seed: string, name: string) => run(["generate", ...models, "--class", "2,4", "--seed", seed, "--out", join(dir, name)]);
    expect((await g("11", "a.png")).code).toBe(0);
    expect((await g("11", "b.png")).code).toBe(0);
    expect((await g("12", "c.png")).code).toBe(0);
    const [a, b, c] = ["a.png", "b.png", "c.png"].map((f) => readFileSync(join(dir, f)));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });

  it("takes the VAR as safetensors too (configuration inferred), with the same images as the .pth", async (ctx) => {
    if (!bundle.has("var.safetensors")) return ctx.skip();
    const st = ["--vae", bundle.file("vae.pth"), "--var", bundle.file("var.safetensors")];
    expect((await run(["generate", ...st, "--class", "1", "--seed", "9", "--out", join(dir, "st.png")])).code).toBe(0);
    expect((await run(["generate", ...models, "--class", "1", "--seed", "9", "--out", join(dir, "pth.png")])).code).toBe(0);
    expect(readFileSync(join(dir, "st.png")).equals(readFileSync(join(dir, "pth.png")))).toBe(true);
  });

  it("clear errors: unknown class, negative counts, missing weights, bad flags", async () => {
    const numClasses: number = bundle.meta.var.num_classes;
    const unknown = await run(["generate", ...models, "--class", String(numClasses), "--out", join(dir, "x.png")]);
    expect(unknown.code, unknown.err).toBe(2);
    expect(unknown.err).toMatch(/unknown class "\d+": this model has classes 0…/);
    const neg = await run(["generate", ...models, "--n-per-class=-3", "--out", join(dir, "x.png")]);
    expect(neg.code).toBe(2);
    expect(neg.err).toMatch(/--n-per-class must be a positive integer/);
    const negSpaced = await run(["generate", ...models, "--n-per-class", "-3", "--out", join(dir, "x.png")]);
    expect(negSpaced.code).toBe(2);
    expect(negSpaced.err).toMatch(/--n-per-class/);
    const half = await run(["generate", "--vae", bundle.file("vae.pth"), "--out", join(dir, "x.png")]);
    expect(half.code).toBe(1);
    expect(half.err).toMatch(/pass both --vae and --var .*or neither for the bundled default model/);
    const both = await run(["generate", ...models]);
    expect(both.err).toMatch(/exactly one of --out/);
    const topp = await run(["generate", ...models, "--top-p", "7", "--out", join(dir, "x.png")]);
    expect(topp.err).toMatch(/--top-p must be a number in \[0, 1\]/);
    const backend = await run(["generate", ...models, "--backend", "cuda", "--out", join(dir, "x.png")]);
    expect(backend.code).toBe(1);
    expect(backend.err).toMatch(/cuda/);
  });
});

/**
 * Whether an image's numbers do not depend on its batch on this backend: not on
 * webgpu, where tfjs picks matMul and conv programs by output size (see the
 * sampler README, "Reproducibility"). There, every run below uses --batch 1, so
 * the shard, resume and file-name logic is still checked byte for byte, and
 * the test that varies the batch is skipped with that reason.
 */
const batchIndependent = tf.getBackend() !== "webgpu";
const batch = (b: string) => (batchIndependent ? b : "1");

describe("nextscale generate: same seed, same images, whatever the batch, shard or start", () => {
  const dir = mkdtempSync(join(tmpdir(), "ns-shard-"));
  const gen = (out: string, ...more: string[]) => run(["generate", ...models, "--seed", "21", ...more, "--out-dir", join(dir, out)]);
  /** File name -> SHA-256 of its bytes. */
  const files = (sub: string) =>
    Object.fromEntries(readdirSync(join(dir, sub)).sort().map((f) => [f, createHash("sha256").update(readFileSync(join(dir, sub, f))).digest("hex")]));
  const classes = ["--class", "1,3", "--n-per-class", "3"];
  let one: Record<string, string>;

  it("one run at --batch 1: the run's file names, six different images", async () => {
    const r = await gen("b1", ...classes, "--batch", "1");
    expect(r.code, r.err).toBe(0);
    one = files("b1");
    expect(Object.keys(one)).toEqual(["1_0.png", "1_1.png", "1_2.png", "3_0.png", "3_1.png", "3_2.png"]);
    expect(new Set(Object.values(one)).size).toBe(6);
  });

  it.skipIf(!batchIndependent)("byte-identical PNGs at --batch 1, 3 and 8 (not on webgpu: its programs depend on the batch size)", async () => {
    for (const b of ["3", "8"]) {
      const r = await gen(`b${b}`, ...classes, "--batch", b);
      expect(r.code, r.err).toBe(0);
      expect(files(`b${b}`)).toEqual(one);
    }
  });

  it("--shard 0/2 + --shard 1/2 into one folder equal one run, file for file (any --batch per shard)", async () => {
    const a = await gen("shards", ...classes, "--shard", "0/2", "--batch", batch("2"));
    expect(a.code, a.err).toBe(0);
    expect(a.err).toMatch(/images 0 … 4 \(i mod 2 = 0\): 3 of 6/);
    expect(Object.keys(files("shards"))).toEqual(["1_0.png", "1_2.png", "3_1.png"]); // i = 0, 2, 4
    const b = await gen("shards", ...classes, "--shard", "1/2", "--batch", batch("3"));
    expect(b.code, b.err).toBe(0);
    expect(files("shards")).toEqual(one);
  });

  it("--start S resumes at image S (alone and with --shard), writing only those files", async () => {
    const r = await gen("resume", ...classes, "--start", "4", "--batch", batch("8"));
    expect(r.code, r.err).toBe(0);
    expect(files("resume")).toEqual({ "3_1.png": one["3_1.png"], "3_2.png": one["3_2.png"] });
    const s = await gen("resume2", ...classes, "--start", "1", "--shard", "1/3", "--batch", batch("8"));
    expect(s.code, s.err).toBe(0);
    expect(files("resume2")).toEqual({ "1_1.png": one["1_1.png"], "3_1.png": one["3_1.png"] }); // i >= 1 with i mod 3 = 1: 1 and 4
  });

  it("classes drawn from the seed: the same classes and images in 3 shards as in one run; the grid too", async () => {
    expect((await gen("drawn", "--n-per-class", "5", "--batch", batch("2"))).code).toBe(0);
    for (const k of ["0/3", "1/3", "2/3"]) expect((await gen("drawn-shards", "--n-per-class", "5", "--shard", k, "--batch", batch("4"))).code).toBe(0);
    expect(Object.keys(files("drawn"))).toHaveLength(5);
    expect(files("drawn-shards")).toEqual(files("drawn"));
    const grid = (name: string, b: string) => run(["generate", ...models, "--seed", "21", ...classes, "--batch", batch(b), "--out", join(dir, name)]);
    expect((await grid("g1.png", "1")).code).toBe(0);
    expect((await grid("g8.png", "8")).code).toBe(0);
    expect(readFileSync(join(dir, "g1.png")).equals(readFileSync(join(dir, "g8.png")))).toBe(true);
  });

  it("clear errors: bad --shard, --start past the end, --shard/--start with a grid", async () => {
    for (const bad of ["2/2", "1", "a/b", "-1/2", "0/0", "1.5/2"]) {
      const r = await gen("x", ...classes, `--shard=${bad}`);
      expect(r.code, bad).toBe(2);
      expect(r.err).toMatch(/--shard must be K\/N with 0 <= K < N/);
    }
    const past = await gen("x", ...classes, "--start", "7");
    expect(past.code).toBe(2);
    expect(past.err).toMatch(/--start 7 is past the run's last image \(6 images: 0 … 5\)/);
    const neg = await gen("x", ...classes, "--start=-1");
    expect(neg.err).toMatch(/--start must be a non-negative integer/);
    const grid = await run(["generate", ...models, ...classes, "--shard", "0/2", "--out", join(dir, "g.png")]);
    expect(grid.code).toBe(2);
    expect(grid.err).toMatch(/use --out-dir/);
  });
});

describe("--batch's default (defaultBatch): the KV cache of a batch within 256 MB, 8 to 64", () => {
  const official = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];
  it("8 for the official models, 64 for the default model's size, in between for mid-sized ones", () => {
    expect(defaultBatch({ depth: 16, embedDim: 1024, patchNums: official })).toBe(8); // 178 MB an image
    expect(defaultBatch({ depth: 36, embedDim: 2304, patchNums: official })).toBe(8);
    expect(defaultBatch({ depth: 3, embedDim: 192, patchNums: [1, 2, 3, 4, 5, 6, 7] })).toBe(64); // 1.3 MB an image
    // d4 w256 at 16×16 tokens: 2·2·4·L·256·4 bytes = 10.6 MB an image (L = 680) → 24
    expect(defaultBatch({ depth: 4, embedDim: 256, patchNums: official })).toBe(24);
  });
});

describe("--class: numbers, names, -1 (parseClasses)", () => {
  it("ImageNet names for 1000-class models, in any spelling, mixed with numbers and comma lists", () => {
    expect(parseClasses(["golden_retriever"], 1000)).toEqual([207]);
    expect(parseClasses(["golden retriever", "3,tiger shark", " -1 ", "Golden-Retriever,980"], 1000)).toEqual([207, 3, 3, -1, 207, 980]);
    expect(parseClasses(undefined, 1000)).toEqual([]);
  });

  it("unknown and ambiguous names: the UnknownClassError's message as a usage error (exit 2)", () => {
    const err = (v: string[], n = 1000) => {
      try {
        parseClasses(v, n);
      } catch (e) {
        return e as UsageError;
      }
      throw new Error("no error");
    };
    const amb = err(["crane"]);
    expect(amb).toBeInstanceOf(UsageError);
    expect(amb.exitCode).toBe(2);
    expect(amb.message).toMatch(/class name "crane" is ambiguous: 134 \(crane\), 517 \(crane\); give the number/);
    expect(err(["golden retreiver"]).message).toMatch(/unknown class name "golden retreiver"/);
    expect(err(["cat"]).message).toMatch(/did you mean .*281 \(tabby\)/);
    // other class counts: names are refused, numbers explained
    const tiny = err(["golden_retriever"], 10);
    expect(tiny.exitCode).toBe(2);
    expect(tiny.message).toMatch(/--class "golden_retriever": class names are ImageNet's, for the 1000-class models; this model has 10 classes, numbered 0…9/);
    for (const bad of ["1000", "1.5", "-2", ""]) expect(err([bad]).message).toMatch(/unknown class "[^"]*": this model has classes 0…999 \(-1 = unconditional\)/);
  });

  it("the drawn-classes line: names for 1000 classes, one line, abbreviated after 8", () => {
    expect(drawnClassesLine([207, 3], 0, 1000)).toBe("classes drawn from seed 0: 207 golden retriever, 3 tiger shark");
    expect(drawnClassesLine([4, 1, 9], 5, 10)).toBe("classes drawn from seed 5: 4, 1, 9");
    const many = drawnClassesLine(Array.from({ length: 100 }, (_, i) => i), 1, 1000);
    expect(many).not.toMatch(/\n/);
    expect(many).toMatch(/^classes drawn from seed 1: 0 tench, 1 goldfish, .*, 7 cock, … \(100 images\)$/);
    expect(classText(-1, 1000)).toBe("unconditional");
    expect(classText(1000, 1000)).toBe("unconditional");
  });
});

describe("nextscale generate: --class -1, class names, drawn classes, --labels", () => {
  const dir = mkdtempSync(join(tmpdir(), "ns-classes-"));
  let var1000: string;
  beforeAll(async () => {
    var1000 = await thousandClassVar(bundle.file("var.pth"), dir);
  });
  const m1000 = () => ["--vae", bundle.file("vae.pth"), "--var", var1000];
  const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
  /** The cells of an unlabelled grid (pad 2), in order. */
  const cells = (g: RgbImage, n: number, cols: number): RgbImage[] =>
    Array.from({ length: n }, (_, k) => {
      const x0 = 2 + (k % cols) * (S + 2);
      const y0 = 2 + Math.floor(k / cols) * (S + 2);
      const data = new Float32Array(S * S * 3);
      for (let y = 0; y < S; y++) data.set(g.data.subarray(((y0 + y) * g.width + x0) * 3, ((y0 + y) * g.width + x0 + S) * 3), y * S * 3);
      return { width: S, height: S, data };
    });

  it("--class -1 (the documented unconditional class) is a value, not a flag: uncond_<k>.png, and a grid", async () => {
    const r = await run(["generate", ...models, "--class", "-1", "--n-per-class", "2", "--out-dir", join(dir, "uncond")]);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(join(dir, "uncond")).sort()).toEqual(["uncond_0.png", "uncond_1.png"]);
    expect(r.err).not.toMatch(/classes drawn/);
    const g = await run(["generate", ...models, "--class", "-1", "--class", "2", "--out", join(dir, "uncond.png")]);
    expect(g.code, g.err).toBe(0);
    expect(g.err).toMatch(/wrote .*uncond\.png \(2 images\)/);
  });

  it("a 1000-class model takes ImageNet names (any spelling, mixed with numbers): the same files as the numbers", async () => {
    const a = await run(["generate", ...m1000(), "--class", "golden_retriever,3", "--seed", "3", "--out-dir", join(dir, "names")]);
    expect(a.code, a.err).toBe(0);
    const b = await run(["generate", ...m1000(), "--class", "golden retriever", "--class", "tiger shark", "--seed", "3", "--out-dir", join(dir, "names2")]);
    expect(b.code, b.err).toBe(0);
    const c = await run(["generate", ...m1000(), "--class", "207", "--class", "3", "--seed", "3", "--out-dir", join(dir, "numbers")]);
    expect(c.code, c.err).toBe(0);
    expect(readdirSync(join(dir, "names")).sort()).toEqual(["207_0.png", "3_0.png"]);
    for (const f of ["207_0.png", "3_0.png"]) {
      expect(sha(join(dir, "names2", f))).toBe(sha(join(dir, "names", f)));
      expect(sha(join(dir, "numbers", f))).toBe(sha(join(dir, "names", f)));
    }
  });

  it("unknown, ambiguous and (on a 10-class model) any names: the message, exit 2, nothing written", async () => {
    const out = join(dir, "bad-names");
    const amb = await run(["generate", ...m1000(), "--class", "crane", "--out-dir", out]);
    expect(amb.code).toBe(2);
    expect(amb.err).toMatch(/class name "crane" is ambiguous: 134 \(crane\), 517 \(crane\)/);
    const unknown = await run(["generate", ...m1000(), "--class", "207,golden retreiver", "--out", join(dir, "bad.png")]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown class name "golden retreiver"/);
    const tiny = await run(["generate", ...models, "--class", "golden_retriever", "--out", join(dir, "bad.png")]);
    expect(tiny.code).toBe(2);
    expect(tiny.err).toMatch(/class names are ImageNet's, for the 1000-class models; this model has 10 classes, numbered 0…9/);
    for (const r of [amb, unknown, tiny]) expect(r.err).not.toMatch(/backend:|loading/); // before anything loads
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(dir, "bad.png"))).toBe(false);
  });

  it("without --class: one stderr line names the classes drawn (ImageNet names for 1000 classes), abbreviated", async () => {
    const r = await run(["generate", ...models, "--n-per-class", "3", "--seed", "4", "--out-dir", join(dir, "drawn")]);
    expect(r.code, r.err).toBe(0);
    const want = [0, 1, 2].map((i) => imageLabel(4, i, 10));
    expect(r.err).toContain(`\nclasses drawn from seed 4: ${want.join(", ")}\n`);
    expect(readdirSync(join(dir, "drawn")).sort()).toEqual([...new Set(want.map((c, i) => `${c}_${want.slice(0, i).filter((x) => x === c).length}.png`))].sort());
    const big = await run(["generate", ...m1000(), "--n-per-class", "10", "--seed", "0", "--batch", "10", "--out-dir", join(dir, "drawn1000")]);
    expect(big.code, big.err).toBe(0);
    const lines = big.err.split("\n").filter((l) => l.startsWith("classes drawn"));
    expect(lines).toHaveLength(1);
    const first = Array.from({ length: 8 }, (_, i) => classText(imageLabel(0, i, 1000), 1000));
    expect(lines[0]).toBe(`classes drawn from seed 0: ${first.join(", ")}, … (10 images)`);
    expect(lines[0]).toMatch(/^classes drawn from seed 0: \d+ [a-zA-Z]/);
    console.log(`[drawn] ${lines[0]}`);
  });

  it("--labels draws each image's class under it in the grid (number and ImageNet name); the images are unchanged", async () => {
    for (const [name, args, classes] of [
      ["tiny", models, ["1", "3"]],
      ["1000", m1000(), ["golden_retriever", "980"]],
    ] as const) {
      const base = ["generate", ...args, "--class", classes.join(","), "--n-per-class", "2", "--seed", "6"];
      const plainFile = join(dir, `plain-${name}.png`);
      const labelled = join(dir, `labels-${name}.png`);
      expect((await run([...base, "--out", plainFile])).code).toBe(0);
      const r = await run([...base, "--labels", "--out", labelled]);
      expect(r.code, r.err).toBe(0);
      const plain = decodeImage(readFileSync(plainFile));
      const lab = decodeImage(readFileSync(labelled));
      expect(lab.width).toBe(plain.width);
      expect(lab.height).toBeGreaterThan(plain.height);
      const numbers = name === "tiny" ? [1, 1, 3, 3] : [207, 207, 980, 980];
      const texts = numbers.map((c) => classText(c, name === "tiny" ? 10 : 1000));
      if (name === "1000") expect(texts[0]).toBe("207 golden retriever");
      // the labelled grid is the plain grid's images with those labels, pixel for pixel
      const expected = imageGrid(cells(plain, 4, 2), 2, 2, { labels: texts });
      expect(toUint8Rgb(lab)).toEqual(toUint8Rgb(expected));
    }
    const outDir = await run(["generate", ...models, "--labels", "--out-dir", join(dir, "no-labels")]);
    expect(outDir.code).toBe(2);
    expect(outDir.err).toMatch(/--labels draws the classes into the grid: use it with --out/);
  });
});

describe("nextscale edit", () => {
  const dir = mkdtempSync(join(tmpdir(), "ns-edit-"));
  const src = join(dir, "src.png");
  const data = new Float32Array(S * S * 3).map((_, i) => ((i * 7) % 255) / 255);
  writeFileSync(src, encodePng({ width: S, height: S, data }));

  it("in-paints a box under two classes and out-paints from a mask", async () => {
    const r = await run(["edit", ...models, "--image", src, "--box", "0.25,0.25,0.75,0.75", "--class", "1,2", "--out", join(dir, "inpaint.png")]);
    expect(r.code, r.err).toBe(0);
    const out = decodeImage(readFileSync(join(dir, "inpaint.png")));
    expect(out.width).toBeGreaterThan(2 * S); // two results side by side
    const mask = new Float32Array(S * S * 3);
    for (let i = 0; i < (S * S * 3) / 2; i++) mask[i] = 1; // top half white
    writeFileSync(join(dir, "mask.png"), encodePng({ width: S, height: S, data: mask }));
    const o = await run(["edit", ...models, "--image", src, "--mask", join(dir, "mask.png"), "--outpaint", "--class", "3", "--out", join(dir, "out.png")]);
    expect(o.code, o.err).toBe(0);
    expect(decodeImage(readFileSync(join(dir, "out.png"))).width).toBe(S);
  });

  it("clear errors: unreadable image, image or mask of the wrong size", async () => {
    const bad = await run(["edit", ...models, "--image", join(dir, "nope.png"), "--box", "0,0,1,1", "--class", "1", "--out", join(dir, "o.png")]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--image .*nope\.png/);
    writeFileSync(join(dir, "notimg.png"), "hello");
    const notimg = await run(["edit", ...models, "--image", join(dir, "notimg.png"), "--box", "0,0,1,1", "--class", "1", "--out", join(dir, "o.png")]);
    expect(notimg.err).toMatch(/not a PNG or JPEG/);
    writeFileSync(join(dir, "small.png"), encodePng({ width: 8, height: 8, data: new Float32Array(192) }));
    const small = await run(["edit", ...models, "--image", join(dir, "small.png"), "--box", "0,0,1,1", "--class", "1", "--out", join(dir, "o.png")]);
    expect(small.err).toMatch(new RegExp(`8×8; this model needs ${S}×${S}`));
    const wrongMask = await run(["edit", ...models, "--image", src, "--mask", join(dir, "small.png"), "--class", "1", "--out", join(dir, "o.png")]);
    expect(wrongMask.code).toBe(1);
    expect(wrongMask.err).toMatch(new RegExp(`mask must be ${S}×${S}`));
    const noBox = await run(["edit", ...models, "--image", src, "--class", "1", "--out", join(dir, "o.png")]);
    expect(noBox.err).toMatch(/pass one of --box y0,x0,y1,x1 and --mask mask\.png \(or --keep-scales K alone/);
  });
});
