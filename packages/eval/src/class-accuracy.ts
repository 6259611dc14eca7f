/**
 * Accuracy on the class asked for: how often a classifier (a feature
 * extractor with `numClasses`) recognises in a generated image the class it
 * was generated for. Image i counts as correct when the argmax of its logits
 * (the first one on ties, as numpy's) equals its label. The labels of a
 * folder come from its file names (`3_17.png`: class 3), as `nextscale
 * generate --out-dir` writes them.
 */
import { type ComputedStatistics, type ComputeOptions, computeStatistics } from "./compute-statistics.js";
import type { FeatureExtractor } from "./feature-extractor.js";
import { EvalInputError, type ImageSet } from "./image-source.js";

export interface ClassAccuracy {
  /** correct / count. */
  accuracy: number;
  correct: number;
  count: number;
  /** One entry per class that has images, in class order. */
  perClass: { class: number; count: number; correct: number; accuracy: number }[];
}

/** The last part of a path. */
const base = (file: string) => file.slice(Math.max(file.lastIndexOf("/"), file.lastIndexOf("\\")) + 1);

const NAMING = "name the files <class>_<i>.png (e.g. 3_17.png), as `nextscale generate --out-dir` writes them";

/**
 * The accuracy of row-major logits (N × numClasses) on `labels` (N classes in
 * 0 … numClasses − 1). `files` (N names, optional) names the image of a bad
 * label in the error.
 */
export function classAccuracy(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  opts: { files?: readonly string[] } = {},
): ClassAccuracy {
  if (!(Number.isInteger(numClasses) && numClasses > 0)) throw new EvalInputError(`classAccuracy: numClasses must be a positive integer (got ${numClasses})`);
  const n = logits.length / numClasses;
  if (!Number.isInteger(n)) throw new EvalInputError(`classAccuracy: ${logits.length} logits are not N × ${numClasses} (numClasses)`);
  if (labels.length !== n) throw new EvalInputError(`classAccuracy: the logits are those of ${n} image${n === 1 ? "" : "s"}, but there ${labels.length === 1 ? "is 1 label" : `are ${labels.length} labels`}`);
  if (n === 0) throw new EvalInputError("classAccuracy: no images");
  const count = new Array<number>(numClasses).fill(0);
  const right = new Array<number>(numClasses).fill(0);
  for (let r = 0; r < n; r++) {
    const label = labels[r];
    if (!(Number.isInteger(label) && label >= 0 && label < numClasses)) {
      throw new EvalInputError(`classAccuracy: the label of ${opts.files?.[r] ?? `image ${r}`} is ${label}, not a class of the classifier (0…${numClasses - 1})`);
    }
    const o = r * numClasses;
    let best = 0;
    for (let c = 0; c < numClasses; c++) {
      const v = logits[o + c];
      if (Number.isNaN(v)) throw new EvalInputError(`classAccuracy: the logits of ${opts.files?.[r] ?? `image ${r}`} hold NaN`);
      if (v > logits[o + best]) best = c;
    }
    count[label]++;
    if (best === label) right[label]++;
  }
  const correct = right.reduce((a, b) => a + b, 0);
  const perClass: ClassAccuracy["perClass"] = [];
  for (let c = 0; c < numClasses; c++) if (count[c]) perClass.push({ class: c, count: count[c], correct: right[c], accuracy: right[c] / count[c] });
  return { accuracy: correct / n, correct, count: n, perClass };
}

/**
 * Each image's class, checked before any image is embedded: every image of
 * `set` must have one (a folder's from its file names), and, with
 * `numClasses`, one in 0 … numClasses − 1. The errors name the file.
 */
export function imageLabels(
  set: { name: string; labels?: readonly (number | undefined)[]; files?: readonly string[] },
  numClasses?: number,
): number[] {
  const { labels, files } = set;
  if (!labels) {
    throw new EvalInputError(
      `${set.name}: the accuracy on the class asked for needs each image's class, but these images carry none; use a folder of images and ${NAMING} (from the API: give the images their labels; openEvalInput and imageFolder read a folder's from its file names)`,
    );
  }
  const where = (i: number) => files?.[i] ?? `${set.name} image ${i}`;
  const missing = labels.flatMap((l, i) => (l === undefined ? [i] : []));
  if (missing.length) {
    const uncond = files ? missing.filter((i) => /^uncond_/i.test(base(files[i]))).length : 0;
    throw new EvalInputError(
      `${where(missing[0])}: the accuracy on the class asked for needs each image's class from its file name, but this one has none (${missing.length} of ${labels.length} images in ${set.name}); ${NAMING}${uncond ? ` (the ${uncond} uncond_<i>.png are unconditional: no class was asked for, so move them out of the folder)` : ""}`,
    );
  }
  if (numClasses !== undefined) {
    const bad = labels.findIndex((l) => !(l! >= 0 && l! < numClasses));
    if (bad >= 0) {
      throw new EvalInputError(
        `${where(bad)}: class ${labels[bad]} (from its file name) is not a class of the classifier, which has ${numClasses} (0…${numClasses - 1})`,
      );
    }
  }
  return labels as number[];
}

/**
 * Embed a labelled set (a folder of `<class>_<i>.png`) and score the
 * extractor's classifier on it: its accuracy on the class asked for, and the
 * statistics computed on the way (to save them). The labels are checked
 * before any image is embedded.
 */
export async function classifyImages(
  set: ImageSet,
  extractor: FeatureExtractor,
  opts: Omit<ComputeOptions, "keepLogits"> = {},
): Promise<{ accuracy: ClassAccuracy; computed: ComputedStatistics }> {
  const numClasses = extractor.numClasses;
  if (numClasses === undefined) {
    throw new EvalInputError(
      `the accuracy on the class asked for needs classifier logits, but the feature extractor "${extractor.name}" has none (it declares no numClasses)`,
    );
  }
  const labels = imageLabels(set, numClasses);
  const computed = await computeStatistics(set, extractor, { ...opts, keepLogits: true });
  return { accuracy: classAccuracy(computed.logits!, labels, numClasses, { files: set.files }), computed };
}
