import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backendFromEnv, initBackend } from "@nextscale/backends";
import { decodeImage, encodePng, imageGrid, toUint8Rgb } from "@nextscale/core";
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

  it("rejects an image of the wrong size, naming the expected size", async () => {
    const r = await run(["reconstruct", "--vae", vaeFile, "--patch-nums", PNS, "--image", picture("small.png", 48, 40), "--out", join(tmp, "x.png")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/small\.png is 48×40, but this VQ-VAE takes 64×64 images/);
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
  });
});
