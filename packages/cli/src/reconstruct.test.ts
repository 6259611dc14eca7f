import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backendFromEnv, initBackend } from "@nextscale/backends";
import { decodeImage, encodePng, imageGrid, officialPreprocess, toUint8Rgb } from "@nextscale/core";
import { FIXTURES } from "@nextscale/test-utils";
import { loadVqvae } from "@nextscale/tokenizer";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { previewsPath } from "./commands/reconstruct.js";
import { runCli } from "./run.testutil.js";

const run = runCli;

const tmp = mkdtempSync(join(tmpdir(), "nextscale-reconstruct-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A smooth test picture, side×side, as a PNG file. */
function picture(name: string, side: number, height = side): string {
  const data = new Float32Array(side * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < side; x++) {
      const i = 3 * (y * side + x);
      data[i] = (Math.sin(x / 5) + 1) / 2;
      data[i + 1] = (Math.cos(y / 7) + 1) / 2;
      data[i + 2] = ((x + y) % 32) / 31;
    }
  }
  const file = join(tmp, name);
  writeFileSync(file, encodePng({ width: side, height, data }));
  return file;
}

const vaeFile = join(FIXTURES, "var-tiny", "vae.pth"); // 64×64 images, 4 scales
const PNS = "1,2,3,4";

describe("nextscale reconstruct", () => {
  let input: string;
  beforeAll(() => {
    input = picture("in.png", 64);
  });

  it("writes the reconstruction and the coarse-to-fine strip, the same pixels as the tokenizer API", async () => {
    const out = join(tmp, "rec.png");
    const r = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", input, "--out", out, "--previews"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/wrote .*rec\.png \(64×64, 4 scales: 1,2,3,4\)/);
    expect(r.out).toMatch(/rec-previews\.png \(4 previews/);

    const rec = decodeImage(readFileSync(out));
    const strip = decodeImage(readFileSync(previewsPath(out)));
    expect([rec.width, rec.height]).toEqual([64, 64]);
    expect([strip.width, strip.height]).toEqual([4 * 64 + 5 * 2, 64 + 2 * 2]);

    // the same computation through the API
    await initBackend(backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"]));
    const vae = await loadVqvae(vaeFile, { patchNums: [1, 2, 3, 4] });
    const px = decodeImage(readFileSync(input));
    const img = tf.tidy(() => tf.sub(tf.mul(tf.tensor4d(px.data, [1, 64, 64, 3]), 2), 1) as tf.Tensor4D);
    const idx = vae.imageToIndices(img);
    const frames = await Promise.all(
      vae.indicesToImage(idx, { allScales: true }).map(async (t) => {
        const px01 = tf.tidy(() => tf.mul(tf.add(t, 1), 0.5));
        const data = (await px01.data()) as Float32Array;
        tf.dispose([t, px01]);
        return { width: 64, height: 64, data };
      }),
    );
    expect(toUint8Rgb(rec)).toEqual(toUint8Rgb(frames[3]));
    expect(toUint8Rgb(strip)).toEqual(toUint8Rgb(imageGrid(frames)));
    // coarse previews differ from the final image
    expect(toUint8Rgb(frames[0])).not.toEqual(toUint8Rgb(frames[3]));
    tf.dispose([img, ...idx]);
    vae.dispose();
  });

  it("without --previews writes only the reconstruction", async () => {
    const out = join(tmp, "only.png");
    const r = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", input, "--out", out]);
    expect(r.code, r.err).toBe(0);
    expect(() => readFileSync(previewsPath(out))).toThrow();
    expect(toUint8Rgb(decodeImage(readFileSync(out)))).toEqual(toUint8Rgb(decodeImage(readFileSync(join(tmp, "rec.png")))));
  });

  it("rejects an image of the wrong size, naming the expected size and --resize", async () => {
    const r = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", picture("small.png", 48, 40), "--out", join(tmp, "x.png")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/small\.png is 48×40, but this VQ-VAE takes 64×64 images/);
    expect(r.err).toMatch(/pass --resize \(it resizes the shorter side to 72 \(Lanczos\) and crops the centre 64×64/);
    expect(r.err).not.toMatch(/backend:/); // before the checkpoint is loaded
  });

  it("rejects a checkpoint of another model, a non-image and missing options clearly", async () => {
    const notVae = await run(["reconstruct", "--vae", join(FIXTURES, "var-tiny", "var.pth"), "--image", input, "--out", join(tmp, "x.png")]);
    expect(notVae.code).toBe(1);
    expect(notVae.err).toMatch(/--vae .*var\.pth: a VAR transformer checkpoint/);
    const noScales = await run(["reconstruct", "--vae", vaeFile, "--image", input, "--out", join(tmp, "x.png")]);
    expect(noScales.code).toBe(1);
    expect(noScales.err).toMatch(/trained with 4 scales; pass --patch-nums/);
    const notImage = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", join(FIXTURES, "README.md"), "--out", join(tmp, "x.png")]);
    expect(notImage.code).toBe(1);
    expect(notImage.err).toMatch(/not a PNG or JPEG/);
    const missing = await run(["reconstruct", "--vae", vaeFile, "--image", input]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/missing --out/);
    const badPns = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", "1,x", "--image", input, "--out", join(tmp, "x.png")]);
    expect(badPns.code).toBe(2);
    expect(badPns.err).toMatch(/--patch-nums must be/);
    const noFile = await run(["reconstruct", "--vae", join(tmp, "absent.pth"), "--image", input, "--out", join(tmp, "x.png")]);
    expect(noFile.code).toBe(1);
    expect(noFile.err).toMatch(/--vae .*absent\.pth: no such file/);
    const cache = process.env.NEXTSCALE_CACHE;
    process.env.NEXTSCALE_CACHE = join(tmp, "empty-cache");
    const uncached = await run(["reconstruct", "--vae", "vae", "--image", input, "--out", join(tmp, "x.png")]).finally(() => {
      if (cache === undefined) delete process.env.NEXTSCALE_CACHE;
      else process.env.NEXTSCALE_CACHE = cache;
    });
    expect(uncached.code).toBe(1);
    expect(uncached.err).toMatch(/--vae vae: .*nextscale download vae/);
  });
});

describe("nextscale reconstruct --resize, checks before loading, progress", () => {
  /** A fresh folder for one run: what is in it afterwards is what the run left. */
  const fresh = (name: string) => {
    const d = join(tmp, name);
    mkdirSync(d);
    return d;
  };

  it("--resize: a larger, non-square image gives the output of officialPreprocess's result saved at 64×64", async () => {
    const big = picture("wide.png", 150, 97); // 150×97: shorter side to 72, then the centre 64×64
    const d = fresh("resize");
    const r = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", big, "--resize", "--out", join(d, "a.png"), "--previews"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/wide\.png: 150×97 -> 64×64 \(--resize: shorter side to 72, centre crop\)/);
    // the same pixels through core's officialPreprocess, saved as a 64×64 PNG and reconstructed without --resize
    const pre = officialPreprocess(decodeImage(readFileSync(big)), 64);
    const preFile = join(tmp, "wide-preprocessed.png");
    writeFileSync(preFile, encodePng(pre));
    const s = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", preFile, "--out", join(d, "b.png"), "--previews"]);
    expect(s.code, s.err).toBe(0);
    expect(readFileSync(join(d, "a.png")).equals(readFileSync(join(d, "b.png")))).toBe(true);
    expect(readFileSync(join(d, "a-previews.png")).equals(readFileSync(join(d, "b-previews.png")))).toBe(true);
    // a smaller image is enlarged the same way
    const small = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", picture("tiny.png", 30, 41), "--resize", "--out", join(d, "c.png")]);
    expect(small.code, small.err).toBe(0);
    expect(decodeImage(readFileSync(join(d, "c.png"))).width).toBe(64);
    expect(readdirSync(d).sort()).toEqual(["a-previews.png", "a.png", "b-previews.png", "b.png", "c.png"]);
  });

  it("progress on stderr: the encoding, then one decoder pass per image written", async () => {
    const d = fresh("progress");
    const r = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", picture("p.png", 64), "--out", join(d, "r.png"), "--previews"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/backend: \w+/);
    expect(r.err).toMatch(/reconstruct \[#+\] 5\/5 100% .* pass\/s ETA 0s/); // 1 encoding + 4 previews
    const one = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", picture("p.png", 64), "--out", join(d, "s.png")]);
    expect(one.err).toMatch(/reconstruct \[#+\] 2\/2 100%/);
  });

  /** Run with bad input into a fresh folder: the exit code, the message, and that nothing was written. */
  async function refused(name: string, args: (dir: string) => string[], code: number, message: RegExp, before: string[] = []) {
    const d = fresh(name);
    const r = await run(["reconstruct", "--vae", vaeFile, ...args(d)]);
    expect(r.code, r.err).toBe(code);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/backend:|reconstruct \[/); // refused before the checkpoint was loaded
    expect(readdirSync(d)).toEqual(before); // no output, not even a temporary file
    return r;
  }

  it("--out into a missing folder, or as JPEG, is refused before any work", async () => {
    const img = picture("ok.png", 64);
    await refused("missing-dir", (d) => ["--patch-nums", PNS, "--image", img, "--out", join(d, "no", "such", "rec.png")], 1, /--out .*rec\.png: the folder .*such does not exist \(create it first\)/);
    await refused("jpeg", (d) => ["--patch-nums", PNS, "--image", img, "--out", join(d, "rec.jpg")], 1, /--out .*rec\.jpg: nextscale does not write JPEG; it writes PNG: name the file .*rec\.png/);
    await refused("no-ext", (d) => ["--patch-nums", PNS, "--image", img, "--out", join(d, "rec")], 1, /does not write a file without an extension/);
    // the previews' file is checked too: here a folder stands where it would go
    await refused(
      "previews-folder",
      (d) => {
        mkdirSync(join(d, "rec-previews.png"));
        return ["--patch-nums", PNS, "--image", img, "--out", join(d, "rec.png"), "--previews"];
      },
      1,
      /--previews .*rec-previews\.png is a folder; pass a file name/,
      ["rec-previews.png"],
    );
  });

  it("--patch-nums that are not strictly increasing, or whose last value does not fit the image, are refused", async () => {
    const img = picture("ok2.png", 64);
    await refused("decreasing", (d) => ["--patch-nums", "4,3,2,1", "--image", img, "--out", join(d, "r.png")], 2, /--patch-nums must be strictly increasing, coarse to fine .*got 4,3,2,1, where 3 follows 4/);
    await refused("repeated", (d) => ["--patch-nums", "1,2,2,4", "--image", img, "--out", join(d, "r.png")], 2, /strictly increasing.*where 2 follows 2/);
    await refused("fraction", (d) => ["--patch-nums", "1,2.5,4", "--image", img, "--out", join(d, "r.png")], 2, /--patch-nums must be two or more positive integers/);
    await refused("one", (d) => ["--patch-nums", "4", "--image", img, "--out", join(d, "r.png")], 2, /two or more positive integers/);
    // the last token map is the latent: 3 × 16 = 48 px, not this 64 px image
    await refused(
      "last",
      (d) => ["--patch-nums", "1,2,3", "--image", img, "--out", join(d, "r.png")],
      1,
      /is 64×64, but this VQ-VAE takes 48×48 images \(patch_nums \[1,2,3\]: the last token map, 3×3, is the latent, 16× smaller than the image\); pass --resize .*, or pass --patch-nums ending in 4 to encode it at its own size/,
    );
  });
});
