import * as tf from "@tensorflow/tfjs-core";
import { encodePng, openCheckpoint } from "@nextscale/core";
import { referenceBundles } from "@nextscale/test-utils";
import { loadVqvae, type VQVAE } from "@nextscale/tokenizer";
import { VarTransformer } from "@nextscale/transformer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boxKeepMask, EditMaskError, imageKeepMask, scaleKeepMask } from "./edit-mask.js";
import { GenerationCancelledError, generate, type GenerateResult } from "./generate.js";

const bundle = referenceBundles()[0];

async function png(res: GenerateResult): Promise<Buffer> {
  const [B, H, W] = res.images.shape;
  const d = await res.images.data();
  return Buffer.concat(Array.from({ length: B }, (_, b) => Buffer.from(encodePng({ width: W, height: H, data: (d as Float32Array).slice(b * H * W * 3, (b + 1) * H * W * 3) }))));
}
const free = (r: GenerateResult) => tf.dispose([r.images, r.fHat, ...r.indices]);

describe(`generation options (on ${bundle.name})`, () => {
  let vae: VQVAE;
  let model: VarTransformer;
  beforeAll(async () => {
    vae = await loadVqvae(bundle.file("vae.pth"), { patchNums: bundle.meta.var.patch_nums });
    const store = await openCheckpoint(bundle.file("var.pth"));
    model = await VarTransformer.fromCheckpoint(store);
    await store.close();
  });
  afterAll(() => {
    vae.dispose();
    model.dispose();
  });

  // three batches of 3 images: minutes on webgpu (SwiftShader) when the machine is busy
  it("same seed -> identical PNG bytes; another seed -> different images", { timeout: 600_000 }, async () => {
    const opts = { labels: [1, 2, 3], cfg: 1.5, topK: 0, topP: 0.96 };
    const a = await generate(vae, model, { ...opts, seed: 7 });
    const b = await generate(vae, model, { ...opts, seed: 7 });
    const c = await generate(vae, model, { ...opts, seed: 8 });
    const [pa, pb, pc] = await Promise.all([png(a), png(b), png(c)]);
    expect(pa.equals(pb)).toBe(true);
    expect(pa.equals(pc)).toBe(false);
    [a, b, c].forEach(free);
  });

  it("labels drawn at random from the seed, unconditional with -1, images in [0, 1]", async () => {
    const r = await generate(vae, model, { batchSize: 4, seed: 3 });
    expect(r.labels.length).toBe(4);
    expect(Array.from(r.labels).every((l) => l >= 0 && l < model.config.numClasses)).toBe(true);
    const u = await generate(vae, model, { labels: [-1, -1], seed: 3 });
    expect(Array.from(u.labels)).toEqual([model.config.numClasses, model.config.numClasses]);
    const d = await u.images.data();
    expect(d.every((v) => v >= 0 && v <= 1)).toBe(true);
    free(r);
    free(u);
  });

  it("progress after every scale with a decodable preview; cancellation stops and frees", async () => {
    const K = model.config.patchNums.length;
    const events: number[] = [];
    const r = await generate(vae, model, {
      labels: [0],
      onProgress: (p) => {
        events.push(p.tokensDone);
        expect(p.scales).toBe(K);
        const prev = p.decodePreview();
        expect(prev.shape).toEqual([1, vae.imageSize(), vae.imageSize(), 3]);
        prev.dispose();
      },
    });
    expect(events.length).toBe(K);
    expect(events.at(-1)).toBe(model.config.patchNums.reduce((s, p) => s + p * p, 0));
    free(r);
    const before = tf.memory().numTensors;
    const ctl = new AbortController();
    await expect(generate(vae, model, { labels: [0], signal: ctl.signal, onProgress: (p) => (p.scale === 0 ? ctl.abort() : undefined) })).rejects.toBeInstanceOf(
      GenerationCancelledError,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it("Gumbel-softmax smoothing gives a finite image", async () => {
    const r = await generate(vae, model, { labels: [1, 2], moreSmooth: true, seed: 1 });
    const d = await r.images.data();
    expect(d.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
    free(r);
  });

  it("bad input: unknown class, empty or negative batch, bad filters, wrong mask size", async () => {
    const n = model.config.numClasses;
    await expect(generate(vae, model, { labels: [n + 1] })).rejects.toThrow(/unknown class/);
    await expect(generate(vae, model, { labels: [1.5] })).rejects.toThrow(/unknown class/);
    await expect(generate(vae, model, { labels: [] })).rejects.toThrow(/empty batch/);
    await expect(generate(vae, model, { batchSize: -2 })).rejects.toThrow(/batchSize/);
    await expect(generate(vae, model, { labels: [0], topP: 2 })).rejects.toThrow(/top-p/);
    await expect(generate(vae, model, { labels: [0], cfg: -1 })).rejects.toThrow(/cfg/);
    const P = model.config.patchNums.at(-1)!;
    const indices = vae.imageToIndices(tf.zeros([1, vae.imageSize(), vae.imageSize(), 3]));
    await expect(generate(vae, model, { labels: [0], keep: { indices, mask: { size: P + 1, data: new Float32Array((P + 1) ** 2) } } })).rejects.toThrow(
      /keep-mask must be/,
    );
    tf.dispose(indices);
  });
});

describe("edit masks (official get_edit_mask / replace_embedding)", () => {
  it("box: in-painting regenerates the box, out-painting keeps it", () => {
    const inp = boxKeepMask(4, [0.25, 0.25, 0.75, 0.75], "inpaint");
    expect(Array.from(inp.data)).toEqual([1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    const out = boxKeepMask(4, [0.25, 0.25, 0.75, 0.75], "outpaint");
    expect(Array.from(out.data)).toEqual(Array.from(inp.data, (v) => 1 - v));
    expect(() => boxKeepMask(4, [0.5, 0, 0.2, 1], "inpaint")).toThrow(EditMaskError);
  });

  it("per scale: bilinear resize > 0.5, and pn² <= 3 keeps everything", () => {
    const m = boxKeepMask(16, [0, 0, 0.5, 1], "outpaint"); // keep the top half
    expect(Array.from(scaleKeepMask(m, 1))).toEqual([1]);
    expect(Array.from(scaleKeepMask(m, 2))).toEqual([1, 1, 0, 0]);
    expect(Array.from(scaleKeepMask(m, 16))).toEqual(Array.from(m.data));
  });

  it("image-space masks are area-averaged to tokens and must match the image size", () => {
    const S = 64;
    const data = new Float32Array(S * S);
    for (let y = 0; y < S / 2; y++) for (let x = 0; x < S; x++) data[y * S + x] = 1; // mark the top half
    const keep = imageKeepMask({ width: S, height: S, data }, S, 4, "inpaint");
    expect(Array.from(keep.data)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(() => imageKeepMask({ width: 32, height: 32, data: new Float32Array(1024) }, S, 4, "inpaint")).toThrow(/mask must be 64×64/);
  });
});
