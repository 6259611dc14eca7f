/**
 * The bundled weights are what the package says they are, and the
 * evaluation's classifier classifies real Fashion-MNIST images (the first 64
 * test images, test-fixtures/fashion-mnist-slice). Generation with the
 * bundled model is tested in @nextscale/sampler (loadModels() without
 * sources) and @nextscale/cli (`nextscale generate` without --vae/--var).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { openCheckpoint } from "@nextscale/core";
import { FIXTURES } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { CLASS_NAMES, CLASSIFIER_WEIGHTS, createFeatureExtractor, IMAGE_SIZE, loadClassifierWeights, modelFiles, SAMPLING_DEFAULTS, VAE_WEIGHTS, VAR_WEIGHTS } from "./index.js";

const SLICE = join(FIXTURES, "fashion-mnist-slice");

/** The slice's IDX files → (N, 28, 28, 3) in [0, 1] and the labels. */
function slice(): { images: tf.Tensor4D; labels: number[] } {
  const img = gunzipSync(readFileSync(join(SLICE, "images-idx3-ubyte.gz")));
  const lab = readFileSync(join(SLICE, "labels-idx1-ubyte"));
  const n = img.readUInt32BE(4);
  expect([img.readUInt32BE(0), img.readUInt32BE(8), img.readUInt32BE(12), lab.readUInt32BE(4)]).toEqual([2051, 28, 28, n]);
  const px = Float32Array.from(img.subarray(16, 16 + n * 784), (v) => v / 255);
  const images = tf.tidy(() => tf.tile(tf.tensor4d(px, [n, 28, 28, 1]), [1, 1, 1, 3]) as tf.Tensor4D);
  return { images, labels: [...lab.subarray(8, 8 + n)] };
}

describe("@nextscale/model-fashion-mnist", () => {
  it("holds a VQ-VAE and a VAR that belong together, for 28×28 images of its 10 classes", async () => {
    expect(modelFiles()).toEqual({ vae: VAE_WEIGHTS, var: VAR_WEIGHTS });
    for (const f of [VAE_WEIGHTS, VAR_WEIGHTS, CLASSIFIER_WEIGHTS]) expect(existsSync(f), f).toBe(true);
    const vae = await openCheckpoint(VAE_WEIGHTS);
    const v = await openCheckpoint(VAR_WEIGHTS);
    try {
      const vaeConfig = JSON.parse(String(vae.metadata.config));
      const varConfig = JSON.parse(String(v.metadata.config)).model;
      expect(CLASS_NAMES).toHaveLength(10);
      expect(v.info("class_emb.weight").shape[0]).toBe(CLASS_NAMES.length + 1); // + the unconditional class
      expect(varConfig.patchNums).toEqual(vaeConfig.patchNums);
      expect(v.info("word_embed.weight").shape).toEqual([varConfig.embedDim, vaeConfig.zChannels]);
      // the VQ-VAE downsamples 2^(len(chMult)−1) times to the last scale's side
      expect(varConfig.patchNums.at(-1) * 2 ** (vaeConfig.chMult.length - 1)).toBe(IMAGE_SIZE);
      expect(v.keys().some((k) => k.startsWith("optimizer."))).toBe(false); // weights only
      console.log(`bundled VAR: step ${v.metadata.step} of its training, depth ${varConfig.depth}, width ${varConfig.embedDim}; sampling defaults ${JSON.stringify(SAMPLING_DEFAULTS)}`);
    } finally {
      await Promise.all([vae.close(), v.close()]);
    }
  });

  it("its classifier recognises real Fashion-MNIST test images (features and logits of the right sizes)", async () => {
    const ex = await createFeatureExtractor();
    const { images, labels } = slice();
    try {
      expect([ex.name, ex.dim, ex.numClasses, ex.inputSize]).toEqual(["fashion-mnist-cnn-v1", 128, 10, [28, 28]]);
      const out = await ex.extract(images, { logits: true, spatial: false });
      expect(out.features).toHaveLength(labels.length * 128);
      expect(out.logits).toHaveLength(labels.length * 10);
      let correct = 0;
      labels.forEach((y, i) => {
        const row = [...out.logits!.subarray(i * 10, i * 10 + 10)];
        if (row.indexOf(Math.max(...row)) === y) correct++;
      });
      console.log(`classifier on the first ${labels.length} Fashion-MNIST test images (backend ${tf.getBackend()}): ${correct}/${labels.length} correct`);
      expect(correct / labels.length).toBeGreaterThanOrEqual(0.8); // 89.19 % on the whole test set (model card)
    } finally {
      images.dispose();
      ex.dispose?.();
    }
  });

  it("refuses weights that are not the classifier's, naming what is wrong", async () => {
    await expect(loadClassifierWeights(VAE_WEIGHTS)).rejects.toThrow(/not the Fashion-MNIST classifier's weights \(no tensor "c1\.w"\)/);
  });
});
