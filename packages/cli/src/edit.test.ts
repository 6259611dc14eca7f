/**
 * `nextscale edit` as a first-time user meets it: --resize for an image of
 * any size, every bad input refused with its cause before the models load
 * (and no file left behind), masks smaller than a token refused, progress on
 * stderr.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeImage, encodePng, officialPreprocess, type RgbImage } from "@nextscale/core";
import { referenceBundles } from "@nextscale/test-utils";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

const bundle = referenceBundles()[0];
const models = ["--vae", bundle.file("vae.pth"), "--var", bundle.file("var.pth")];
const S: number = bundle.meta.config.reso;
const P: number = bundle.meta.config.patch_nums.at(-1);
const K: number = bundle.meta.config.patch_nums.length; // scales
const T = S / P; // one token of the last scale, in pixels

const tmp = mkdtempSync(join(tmpdir(), "nextscale-edit-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A smooth picture, width × height, as a PNG file in tmp. */
function picture(name: string, width: number, height: number): string {
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      data[i] = (Math.sin(x / 6) + 1) / 2;
      data[i + 1] = (Math.cos(y / 9) + 1) / 2;
      data[i + 2] = ((x * 3 + y) % 40) / 39;
    }
  }
  return save(name, { width, height, data });
}

/** A mask image: white inside [x0, x0 + w) × [y0, y0 + h), black elsewhere. */
function maskFile(name: string, width: number, height: number, x0: number, y0: number, w: number, h: number): string {
  const data = new Float32Array(width * height * 3);
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) data.fill(1, 3 * (y * width + x), 3 * (y * width + x) + 3);
  return save(name, { width, height, data });
}

function save(name: string, img: RgbImage): string {
  const file = join(tmp, name);
  writeFileSync(file, encodePng(img));
  return file;
}

/** A fresh folder for one run's output: what is in it afterwards is what the run left. */
function fresh(name: string): string {
  const d = join(tmp, name);
  mkdirSync(d);
  return d;
}

const src = picture("src.png", S, S);
const sampling = ["--class", "3", "--seed", "7"];

describe("nextscale edit --resize and progress", () => {
  it("--resize: a larger, non-square image (box and mask) gives the output of officialPreprocess's result saved at the model's size", async () => {
    const d = fresh("resize");
    const W = Math.round(S * 2.3);
    const H = Math.round(S * 1.6);
    const big = picture("big.png", W, H);
    const pre = save("big-preprocessed.png", officialPreprocess(decodeImage(readFileSync(big)), S));
    const r = await runCli(["edit", ...models, ...sampling, "--image", big, "--resize", "--box", "0.25,0.25,0.75,0.75", "--out", join(d, "a.png")]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(new RegExp(`big\\.png: ${W}×${H} -> ${S}×${S} \\(--resize: shorter side to ${Math.round(1.125 * S)}, centre crop\\)`));
    const b = await runCli(["edit", ...models, ...sampling, "--image", pre, "--box", "0.25,0.25,0.75,0.75", "--out", join(d, "b.png")]);
    expect(b.code, b.err).toBe(0);
    expect(readFileSync(join(d, "a.png")).equals(readFileSync(join(d, "b.png")))).toBe(true);

    // a mask of the image's size is cropped and resized with it
    const mask = maskFile("big-mask.png", W, H, Math.round(W * 0.3), Math.round(H * 0.2), Math.round(W * 0.4), Math.round(H * 0.5));
    const preMask = save("big-mask-preprocessed.png", officialPreprocess(decodeImage(readFileSync(mask)), S));
    const m = await runCli(["edit", ...models, ...sampling, "--image", big, "--mask", mask, "--resize", "--outpaint", "--out", join(d, "c.png")]);
    expect(m.code, m.err).toBe(0);
    const n = await runCli(["edit", ...models, ...sampling, "--image", pre, "--mask", preMask, "--outpaint", "--out", join(d, "e.png")]);
    expect(n.code, n.err).toBe(0);
    expect(readFileSync(join(d, "c.png")).equals(readFileSync(join(d, "e.png")))).toBe(true);
    expect(decodeImage(readFileSync(join(d, "c.png"))).width).toBe(S);
    expect(readdirSync(d).sort()).toEqual(["a.png", "b.png", "c.png", "e.png"]);
  });

  it("shows the generation's progress with an ETA on stderr", async () => {
    const d = fresh("progress");
    const r = await runCli(["edit", ...models, "--class", "1,2", "--image", src, "--box", "0,0,0.5,1", "--out", join(d, "p.png")]);
    expect(r.code, r.err).toBe(0);
    const L = (bundle.meta.config.patch_nums as number[]).reduce((a, p) => a + p * p, 0);
    expect(r.err).toMatch(/backend: \w+/);
    expect(r.err).toMatch(new RegExp(`edit \\[#+\\] ${2 * L}/${2 * L} 100% .* tok/s ETA 0s`)); // two classes: 2 × L tokens
    expect(r.err).toMatch(/wrote .*p\.png \(2 images, one per class\)/);
  });
});

describe("nextscale edit --keep-scales (variations)", () => {
  const pixels = (f: string) => decodeImage(readFileSync(f)).data;
  const meanAbs = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

  it("keeps the whole image's first K token maps and redraws the rest: K = all is the reconstruction, fewer scales differ, seeds differ", async () => {
    const d = fresh("vary");
    const run = async (name: string, k: number, seed = "7") => {
      const r = await runCli(["edit", ...models, "--class", "3", "--seed", seed, "--image", src, "--keep-scales", String(k), "--out", join(d, name)]);
      expect(r.code, r.err).toBe(0);
      return pixels(join(d, name));
    };
    const rec = await runCli(["reconstruct", "--vae", bundle.file("vae.pth"), "--patch-nums", bundle.meta.config.patch_nums.join(","), "--image", src, "--out", join(d, "rec.png")]);
    expect(rec.code, rec.err).toBe(0);
    const all = await run("all.png", K);
    const dAll = meanAbs(all, pixels(join(d, "rec.png")));
    const one = await run("one.png", 1);
    const dOne = meanAbs(one, all);
    const dSeeds = meanAbs(one, await run("one-seed8.png", 1, "8"));
    console.log(`--keep-scales: every scale vs reconstruct ${dAll.toExponential(2)}; 1 scale vs every scale ${dOne.toFixed(4)}; seeds 7 vs 8 at 1 scale ${dSeeds.toFixed(4)} (mean |Δ| of pixels in [0, 1])`);
    expect(dAll).toBeLessThan(1 / 255); // the same tokens decoded (8-bit rounding apart)
    expect(dOne).toBeGreaterThan(0.01);
    expect(dSeeds).toBeGreaterThan(0.01);
    const three = await runCli(["edit", ...models, "--class", "3,3,3", "--image", src, "--keep-scales", "1", "--out", join(d, "three.png")]);
    expect(three.code, three.err).toBe(0);
    expect(three.err).toMatch(/wrote .*three\.png \(3 images, side by side\)/);
  });
});

describe("nextscale edit refuses bad input before loading the models, leaving no file", () => {
  /** Run with bad input into a fresh folder: the exit code, the message, and that nothing was written. */
  async function refused(name: string, args: (dir: string) => string[], code: number, message: RegExp) {
    const d = fresh(name);
    const r = await runCli(["edit", ...models, ...args(d)]);
    expect(r.code, r.err).toBe(code);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/backend:|edit \[/); // before the models load
    expect(readdirSync(d)).toEqual([]); // no output, not even a temporary file
    return r;
  }
  const base = (d: string, out = "o.png") => [...sampling, "--image", src, "--out", join(d, out)];

  it("--out into a missing folder, or as JPEG", async () => {
    await refused("missing", (d) => [...sampling, "--image", src, "--box", "0,0,0.5,0.5", "--out", join(d, "nope", "o.png")], 1, /--out .*o\.png: the folder .*nope does not exist \(create it first\)/);
    await refused("jpeg", (d) => [...base(d, "o.jpg"), "--box", "0,0,0.5,0.5"], 1, /--out .*o\.jpg: nextscale does not write JPEG; it writes PNG: name the file .*o\.png/);
  });

  it("an image of another size without --resize: the error names the size and --resize", async () => {
    const wide = picture("wide.png", S + 30, S);
    await refused("size", (d) => [...sampling, "--image", wide, "--box", "0,0,0.5,0.5", "--out", join(d, "o.png")], 1, new RegExp(`wide\\.png is ${S + 30}×${S}; this model needs ${S}×${S}: pass --resize \\(it resizes the shorter side`));
    // with --resize a mask must be the image's size (it is cropped and resized with it)
    const mask = maskFile("mask-model-size.png", S, S, 0, 0, S / 2, S / 2);
    await refused("mask-size", (d) => [...sampling, "--image", wide, "--mask", mask, "--resize", "--out", join(d, "o.png")], 1, new RegExp(`--mask .*mask-model-size\\.png is ${S}×${S}, but --image .*wide\\.png is ${S + 30}×${S}: with --resize`));
  });

  it("boxes upside down, outside [0, 1] or malformed", async () => {
    await refused("upside-down", (d) => [...base(d), "--box", "0.6,0.1,0.2,0.9"], 1, /--box 0\.6,0\.1,0\.2,0\.9: y0 \(0\.6\) must be less than y1 \(0\.2\)/);
    await refused("flat", (d) => [...base(d), "--box", "0.1,0.5,0.9,0.5"], 1, /x0 \(0\.5\) must be less than x1 \(0\.5\)/);
    await refused("outside", (d) => [...base(d), "--box", "0,0,1.5,1"], 1, /y1 is outside \[0, 1\]/);
    await refused("malformed", (d) => [...base(d), "--box", "0.1,0.2,0.3"], 2, /--box must be y0,x0,y1,x1/);
  });

  it("a box smaller than one token: in-painting regenerates nothing, out-painting keeps nothing", async () => {
    // 0.3 token on each side, in the top-left quarter of one token: both edges round to the same grid line, no token covered
    const f = (T * 0.3) / S;
    const a = (2 * T + T * 0.1) / S;
    const box = [a, a, a + f, a + f].map((v) => Number(v.toFixed(4))).join(",");
    const px = (Number((a + f).toFixed(4)) - Number(a.toFixed(4))) * S;
    const size = `${Math.round(px * 100) / 100}×${Math.round(px * 100) / 100} px`;
    const r = await refused("box-inpaint", (d) => [...base(d), "--box", box], 1, new RegExp(`--box ${box} \\(${size}, width × height\\) to regenerate covers no token: one token is ${T}×${T} px \\(the last scale has ${P}×${P} tokens over ${S}×${S} px\\)`));
    expect(r.err).toMatch(/nothing would be regenerated/);
    const o = await refused("box-outpaint", (d) => [...base(d), "--box", box, "--outpaint"], 1, new RegExp(`to keep covers no token: one token is ${T}×${T} px`));
    expect(o.err).toMatch(/nothing of the image would be kept/);
    // out-painting that keeps the whole image would generate nothing
    await refused("box-all", (d) => [...base(d), "--box", "0,0,1,1", "--outpaint"], 1, new RegExp(`covers every token \\(${P}×${P}\\), so nothing would be generated`));
  });

  it("a mask whose marked region is smaller than one token (or empty), in- and out-painting", async () => {
    const spot = maskFile("spot.png", S, S, T + 2, T + 3, 5, 4); // 5×4 px inside one token
    const none = maskFile("none.png", S, S, 0, 0, 0, 0);
    await refused("mask-inpaint", (d) => [...base(d), "--mask", spot], 1, new RegExp(`--mask .*spot\\.png: the marked region \\(20 px marked, within 5×4 px, width × height, at x ${T + 2}…${T + 6}, y ${T + 3}…${T + 6}\\) to regenerate covers no token: one token is ${T}×${T} px`));
    await refused("mask-outpaint", (d) => [...base(d), "--mask", spot, "--outpaint"], 1, new RegExp(`spot\\.png: the marked region .* to keep covers no token: one token is ${T}×${T} px`));
    await refused("mask-empty", (d) => [...base(d), "--mask", none], 1, /none\.png: the mask's marked region \(empty: no pixel is > 0\.5, white in a mask image\) to regenerate covers no token/);
    // with --resize the sizes are the model's pixels, after the crop and resize
    const big = picture("big2.png", 3 * S, 2 * S);
    const bigSpot = maskFile("big-spot.png", 3 * S, 2 * S, Math.round(1.5 * S), S, 3, 3);
    await refused("mask-resized", (d) => [...sampling, "--image", big, "--mask", bigSpot, "--resize", "--out", join(d, "o.png")], 1, new RegExp(`--mask .*big-spot\\.png \\(after --resize to ${S}×${S}\\): the marked region .* covers no token`));
  });

  it("--keep-scales out of range or with the wrong company", async () => {
    await refused("keep-0", (d) => [...base(d), "--keep-scales", "0"], 2, /--keep-scales must be a whole number of scales, at least 1 \(got "0"\)/);
    await refused("keep-half", (d) => [...base(d), "--keep-scales", "1.5"], 2, /--keep-scales must be a whole number/);
    await refused("keep-many", (d) => [...base(d), "--keep-scales", String(K + 1)], 2, new RegExp(`--keep-scales ${K + 1}: this model has ${K} scales`));
    await refused("keep-outpaint", (d) => [...base(d), "--keep-scales", "1", "--outpaint"], 2, /--outpaint needs --box or --mask/);
    await refused("no-region", (d) => base(d), 2, /pass one of --box y0,x0,y1,x1 and --mask mask\.png \(or --keep-scales K alone/);
    await refused("both", (d) => [...base(d), "--box", "0,0,0.5,0.5", "--mask", src], 2, /pass one of --box .* not both/);
  });

  it("an unknown class", async () => {
    const numClasses: number = bundle.meta.var.num_classes;
    await refused("class", (d) => ["--class", String(numClasses), "--image", src, "--box", "0,0,0.5,0.5", "--out", join(d, "o.png")], 2, /unknown class/);
  });
});
