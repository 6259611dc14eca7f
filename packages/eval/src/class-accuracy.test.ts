/** Accuracy on the class asked for: classAccuracy, the labels of file names, evaluate({ accuracy }) and classifyImages. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePng, writeNpz } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { classAccuracy, classifyImages, imageLabels } from "./class-accuracy.js";
import { evaluate, openEvalInput } from "./evaluate.js";
import type { FeatureExtractor } from "./feature-extractor.js";
import { EvalInputError, imageFolder, labelFromFileName } from "./image-source.js";

const tmp = mkdtempSync(join(tmpdir(), "nextscale-eval-accuracy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const RGB: Record<string, [number, number, number]> = { r: [0.9, 0.1, 0.2], g: [0.1, 0.8, 0.3], b: [0.2, 0.1, 0.7] };

/** A folder of 8×8 images of one colour each: file name → "r", "g" or "b". */
function folder(name: string, images: Record<string, string>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const [file, colour] of Object.entries(images)) {
    const data = new Float32Array(8 * 8 * 3).map((_, i) => RGB[colour][i % 3] + 0.05 * Math.sin(i)); // not flat, so the covariance is defined
    writeFileSync(join(dir, file), encodePng({ width: 8, height: 8, data }));
  }
  return dir;
}

/** Features and logits = the mean colour: the classifier sees class 0 in a red image, 1 in a green one, 2 in a blue one. */
function meanColour(classifier = true) {
  const ex = {
    calls: 0,
    name: "mean-colour",
    dim: 3,
    numClasses: classifier ? 3 : undefined,
    async extract(images: tf.Tensor4D, want: { logits: boolean }) {
      ex.calls++;
      const f = tf.mean(images, [1, 2]);
      const features = (await f.data()) as Float32Array;
      f.dispose();
      return want.logits ? { features, logits: features } : { features };
    },
  };
  return ex satisfies FeatureExtractor;
}

describe("classAccuracy", () => {
  it("counts argmax == label, overall and per class, leaving out classes without images", () => {
    // 5 images × 4 classes; argmaxes 2, 0, 0, 3, 1 (a tie between 1 and 3 goes to the first: 1)
    const logits = Float32Array.of(0, 1, 5, 2, 9, 0, 0, 0, 3, -1, 2, 1, 0, 0, 0, 4, 0, 7, 0, 7);
    const r = classAccuracy(logits, [2, 0, 2, 3, 3], 4);
    expect(r).toEqual({
      accuracy: 3 / 5,
      correct: 3,
      count: 5,
      perClass: [
        { class: 0, count: 1, correct: 1, accuracy: 1 },
        { class: 2, count: 2, correct: 1, accuracy: 0.5 },
        { class: 3, count: 2, correct: 1, accuracy: 0.5 },
      ],
    });
    expect(classAccuracy(logits, Int32Array.of(2, 0, 0, 3, 1), 4).accuracy).toBe(1);
    expect(classAccuracy(logits, [0, 1, 1, 0, 0], 4).correct).toBe(0);
  });

  it("refuses labels that do not fit: a wrong number, outside 0…numClasses−1, logits that are not N × numClasses", () => {
    const logits = new Float32Array(3 * 4);
    expect(() => classAccuracy(logits, [0, 1], 4)).toThrow(EvalInputError);
    expect(() => classAccuracy(logits, [0, 1], 4)).toThrow(/the logits are those of 3 images, but there are 2 labels/);
    expect(() => classAccuracy(logits, [0, 1, 4], 4)).toThrow(/the label of image 2 is 4, not a class of the classifier \(0…3\)/);
    expect(() => classAccuracy(logits, [0, -1, 1], 4, { files: ["a/0_0.png", "a/x.png", "a/1_0.png"] })).toThrow(
      /the label of a\/x\.png is -1, not a class of the classifier \(0…3\)/,
    );
    expect(() => classAccuracy(logits, [0, 1.5, 1], 4)).toThrow(EvalInputError);
    expect(() => classAccuracy(logits, [0, 1, 2], 5)).toThrow(/12 logits are not N × 5/);
    expect(() => classAccuracy(new Float32Array(0), [], 4)).toThrow(/no images/);
    expect(() => classAccuracy(Float32Array.of(0, Number.NaN), [0], 2)).toThrow(/the logits of image 0 hold NaN/);
  });
});

describe("labels from file names", () => {
  it("<class>_<i>.png / .jpg / .jpeg (any case) carry a class; other names do not", () => {
    expect(labelFromFileName("3_17.png")).toBe(3);
    expect(labelFromFileName("out/dir/207_0.PNG")).toBe(207);
    expect(labelFromFileName("C:\\out\\12_3.jpeg")).toBe(12);
    expect(labelFromFileName("0_0.Jpg")).toBe(0);
    for (const name of ["uncond_5.png", "cat.png", "3.png", "3_a.png", "3_17.webp", "3_17_1.png", "x3_17.png", "3_17.png.txt"]) {
      expect(labelFromFileName(name), name).toBeUndefined();
    }
  });

  it("imageFolder and openEvalInput give each image its class and file, in the order the images come", async () => {
    const dir = folder("order", { "1_0.png": "g", "0_0.png": "r", "cat.png": "b", "10_1.png": "r" });
    const set = await imageFolder(dir);
    expect(set.files).toEqual(["0_0.png", "10_1.png", "1_0.png", "cat.png"].map((f) => join(dir, f)));
    expect(set.labels).toEqual([0, 10, 1, undefined]);
    const input = await openEvalInput(dir);
    expect(input.labels).toEqual(set.labels);
    expect(input.files).toEqual(set.files);
  });

  it("imageLabels names the first file without a class, the naming expected, and a class the classifier does not have", () => {
    const files = ["d/0_0.png", "d/uncond_0.png", "d/uncond_1.png", "d/1_0.png"];
    const set = { name: "d", files, labels: files.map(labelFromFileName) };
    expect(() => imageLabels(set)).toThrow(
      /^d\/uncond_0\.png: the accuracy on the class asked for needs each image's class from its file name, but this one has none \(2 of 4 images in d\); name the files <class>_<i>\.png \(e\.g\. 3_17\.png\), as `nextscale generate --out-dir` writes them \(the 2 uncond_<i>\.png are unconditional/,
    );
    const ok = { name: "d", files: ["d/0_0.png", "d/7_0.png"], labels: [0, 7] };
    expect(imageLabels(ok)).toEqual([0, 7]);
    expect(imageLabels(ok, 8)).toEqual([0, 7]);
    expect(() => imageLabels(ok, 7)).toThrow(/^d\/7_0\.png: class 7 \(from its file name\) is not a class of the classifier, which has 7 \(0…6\)/);
    expect(() => imageLabels({ name: "x.npz:arr_0" })).toThrow(/^x\.npz:arr_0: the accuracy on the class asked for needs each image's class, but these images carry none/);
  });
});

describe("evaluate({ accuracy }) and classifyImages", () => {
  // class 0: both red (right); class 1: green, red (one right); class 2: blue, green (one right) → 4/6
  const B = () => folder(`b-${Math.random().toString(36).slice(2)}`, { "0_0.png": "r", "0_1.png": "r", "1_0.png": "g", "1_1.png": "r", "2_0.png": "b", "2_1.png": "g" });
  const want = {
    accuracy: 4 / 6,
    correct: 4,
    count: 6,
    perClass: [
      { class: 0, count: 2, correct: 2, accuracy: 1 },
      { class: 1, count: 2, correct: 1, accuracy: 0.5 },
      { class: 2, count: 2, correct: 1, accuracy: 0.5 },
    ],
  };

  it("scores B's images on the classes of their file names, with FID as usual", async () => {
    const ex = meanColour();
    const a = await openEvalInput(folder("a", { "a.png": "r", "b.png": "g", "c.png": "b", "d.png": "b" })); // A needs no labels
    const r = await evaluate(a, await openEvalInput(B()), { extractor: ex, accuracy: true, batchSize: 4 });
    expect(r.accuracy).toEqual(want);
    expect(Number.isFinite(r.fid)).toBe(true);
    expect(r.computed.B?.logits).toHaveLength(6 * 3);
    expect((await evaluate(a, await openEvalInput(B()), { extractor: meanColour() })).accuracy).toBeUndefined();
  });

  it("classifyImages: the same for one set, with its statistics", async () => {
    const { accuracy, computed } = await classifyImages(await imageFolder(B()), meanColour(), { batchSize: 5 });
    expect(accuracy).toEqual(want);
    expect(computed.count).toBe(6);
    expect(computed.stats.mu).toHaveLength(3);
    await expect(classifyImages(await imageFolder(B()), meanColour(false))).rejects.toThrow(
      /the accuracy on the class asked for needs classifier logits, but the feature extractor "mean-colour" has none \(it declares no numClasses\)/,
    );
  });

  it("refuses what it cannot score before any image is embedded, A's included", async () => {
    const a = await openEvalInput(folder("a2", { "a.png": "r", "b.png": "g" }));
    const refused = async (b: Parameters<typeof evaluate>[1], ex: ReturnType<typeof meanColour> | undefined, message: RegExp) => {
      const run = evaluate(a, b, { extractor: ex, accuracy: true });
      await expect(run).rejects.toThrow(EvalInputError);
      await expect(run).rejects.toThrow(message);
      if (ex) expect(ex.calls).toBe(0);
    };
    const good = await openEvalInput(B());
    await refused(good, meanColour(false), /needs classifier logits, but the feature extractor "mean-colour" has none \(it declares no numClasses\)/);
    await refused(good, undefined, /needs a feature extractor with a classifier \(numClasses\)/);
    const unlabelled = folder("unlabelled", { "0_0.png": "r", "1_0.png": "g", "cat.png": "b" });
    await refused(
      await openEvalInput(unlabelled),
      meanColour(),
      new RegExp(`${join(unlabelled, "cat.png").replace(/[.\\]/g, "\\$&")}: .*has none \\(1 of 3 images .*\\); name the files <class>_<i>\\.png \\(e\\.g\\. 3_17\\.png\\), as \`nextscale generate --out-dir\` writes them$`),
    );
    await refused(await openEvalInput(folder("uncond", { "0_0.png": "r", "uncond_0.png": "g" })), meanColour(), /uncond_0\.png: .*\(the 1 uncond_<i>\.png are unconditional/);
    await refused(await openEvalInput(folder("class5", { "0_0.png": "r", "5_0.png": "g" })), meanColour(), /5_0\.png: class 5 \(from its file name\) is not a class of the classifier, which has 3 \(0…2\)/);
    const npz = join(tmp, "images.npz");
    writeFileSync(npz, writeNpz([["arr_0", { dtype: "uint8", shape: [2, 4, 4, 3], data: new Uint8Array(2 * 4 * 4 * 3).map((_, i) => i) }]]));
    await refused(await openEvalInput(npz), meanColour(), /images\.npz: the accuracy on the class asked for needs each image's class, but these images carry none/);
    await refused({ name: "stats.npz", statistics: { stats: { mu: new Float64Array(3), sigma: new Float64Array(9) } } }, meanColour(), /stats\.npz: the accuracy on the class asked for needs images, but this input holds only statistics/);
  });
});
