/**
 * `loadModels()` without sources loads the bundled default model
 * (@nextscale/model-fashion-mnist), and what it generates at the model's own
 * sampling settings is recognised as the class asked for by the model's
 * evaluation classifier on most images.
 */
import { CLASS_NAMES, createFeatureExtractor, SAMPLING_DEFAULTS } from "@nextscale/model-fashion-mnist";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { defaultModel, generate, loadModels } from "./index.js";

describe("the default model", () => {
  it("defaultModel() names the package's files, class names and sampling settings", async () => {
    const d = await defaultModel();
    expect(d.name).toBe("fashion-mnist");
    expect(d.classNames).toEqual(CLASS_NAMES);
    expect(d.sampling).toEqual(SAMPLING_DEFAULTS);
    expect(d.files.vae).toMatch(/vae\.safetensors$/);
    expect(d.files.var).toMatch(/var\.safetensors$/);
  });

  it("loadModels() generates clothes of the classes asked for", async () => {
    const models = await loadModels();
    const ex = await createFeatureExtractor();
    // webgpu in CI is SwiftShader, WebGPU emulated on the CPU: 20 images take 90 s there (4 s on wasm), so one per class
    const perClass = tf.getBackend() === "webgpu" ? 1 : 2;
    const labels = Array.from({ length: 10 * perClass }, (_, i) => Math.floor(i / perClass));
    try {
      expect(models.var.config.numClasses).toBe(10);
      const res = await generate(models.vae, models.var, { ...SAMPLING_DEFAULTS, labels, seed: 3 });
      expect(res.images.shape).toEqual([labels.length, 28, 28, 3]);
      const out = await ex.extract(res.images, { logits: true, spatial: false });
      tf.dispose([res.images, res.fHat, ...res.indices]);
      const predicted = labels.map((_, i) => {
        const row = [...out.logits!.subarray(i * 10, i * 10 + 10)];
        return row.indexOf(Math.max(...row));
      });
      const agree = predicted.filter((p, i) => p === labels[i]).length;
      console.log(`default model on ${tf.getBackend()}: the classifier agrees with the class asked for on ${agree}/${labels.length} images (asked ${labels.join(" ")}, classified ${predicted.join(" ")})`);
      expect(agree / labels.length).toBeGreaterThanOrEqual(0.7);
    } finally {
      ex.dispose?.();
      models.dispose();
    }
  }, 600_000); // 45 s on webgpu (SwiftShader) on a free 2-core machine, minutes beside other work
});
