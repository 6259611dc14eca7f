/**
 * The Fashion-MNIST classifier this model is evaluated with: a small CNN
 * trained in this repository (`training/train-classifier.mjs`), as a domain
 * feature extractor of `@nextscale/eval` ("fashion-mnist-cnn-v1"): 128-d
 * features before the last layer (FID in its feature space) and 10 logits
 * (accuracy on the class asked for, Inception Score).
 *
 *   nextscale fid real/ generated/ --features fashion-mnist --accuracy
 */
import { openCheckpoint, type SourceInput, toFloat32 } from "@nextscale/core";
import type { FeatureExtractor } from "@nextscale/eval";
import * as tf from "@tensorflow/tfjs-core";
import { weightFile } from "./files.js";

/** The classifier's weights in this package. */
export const CLASSIFIER_WEIGHTS = weightFile("classifier.safetensors");

/** Fashion-MNIST's pixel mean and standard deviation (the 60 000 training images, in [0, 1]). */
export const MEAN = 0.286;
export const STD = 0.353;

/** Weight name → shape: NHWC convolutions (HWIO filters), dense layers (in, out). */
export const CLASSIFIER_SHAPES: Readonly<Record<string, readonly number[]>> = {
  "c1.w": [3, 3, 1, 32],
  "c1.b": [32],
  "c2.w": [3, 3, 32, 32],
  "c2.b": [32],
  "c3.w": [3, 3, 32, 64],
  "c3.b": [64],
  "fc1.w": [7 * 7 * 64, 128],
  "fc1.b": [128],
  "fc2.w": [128, 10],
  "fc2.b": [10],
};

export type ClassifierWeights = Record<string, tf.Tensor>;

/** Seeded He-uniform weights and zero biases (trainable variables), for training from scratch. */
export function initClassifierWeights(seed = 0): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  let n = 0;
  for (const [k, s] of Object.entries(CLASSIFIER_SHAPES)) {
    if (k.endsWith(".b")) out[k] = tf.variable(tf.zeros([...s]), true, `cls.${k}`);
    else {
      const fanIn = s.length === 4 ? s[0] * s[1] * s[2] : s[0];
      const b = Math.sqrt(6 / fanIn);
      out[k] = tf.variable(tf.randomUniform([...s], -b, b, "float32", seed * 100 + n++), true, `cls.${k}`);
    }
  }
  return out;
}

/** (B, 28, 28, 1) normalised grayscale → features (B, 128) and logits (B, 10). */
export function classifierForward(w: ClassifierWeights, x: tf.Tensor4D): { features: tf.Tensor2D; logits: tf.Tensor2D } {
  return tf.tidy(() => {
    let h = tf.relu(tf.add(tf.conv2d(x, w["c1.w"] as tf.Tensor4D, 1, "same"), w["c1.b"])) as tf.Tensor4D;
    h = tf.relu(tf.add(tf.conv2d(h, w["c2.w"] as tf.Tensor4D, 2, "same"), w["c2.b"])) as tf.Tensor4D;
    h = tf.relu(tf.add(tf.conv2d(h, w["c3.w"] as tf.Tensor4D, 2, "same"), w["c3.b"])) as tf.Tensor4D;
    const features = tf.relu(tf.add(tf.matMul(tf.reshape(h, [h.shape[0], -1]), w["fc1.w"] as tf.Tensor2D), w["fc1.b"])) as tf.Tensor2D;
    const logits = tf.add(tf.matMul(features, w["fc2.w"] as tf.Tensor2D), w["fc2.b"]) as tf.Tensor2D;
    return { features, logits };
  });
}

/** RGB images (B, 28, 28, 3) in [0, 1] → the network's input (grey, normalised). */
export function classifierInput(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(tf.mean(images, 3, true), MEAN), STD));
}

/** The trained weights (or those of another file with the same names and shapes). */
export async function loadClassifierWeights(source: SourceInput = CLASSIFIER_WEIGHTS): Promise<ClassifierWeights> {
  const store = await openCheckpoint(source);
  const w: ClassifierWeights = {};
  try {
    for (const [k, s] of Object.entries(CLASSIFIER_SHAPES)) {
      if (!store.has(k)) throw new Error(`${store.name}: not the Fashion-MNIST classifier's weights (no tensor "${k}")`);
      const info = store.info(k);
      if (info.shape.join(",") !== s.join(",")) throw new Error(`${store.name}: "${k}" has shape [${info.shape}], the classifier's is [${s}]`);
      w[k] = tf.tensor(toFloat32(await store.read(k)), [...s]);
    }
  } catch (e) {
    tf.dispose(Object.values(w));
    throw e;
  } finally {
    await store.close();
  }
  return w;
}

/**
 * The classifier as a `FeatureExtractor` (images are resized to 28×28 by the
 * evaluator; colour is averaged to grey). `nextscale fid --features
 * fashion-mnist` uses it.
 */
export async function createFeatureExtractor(source: SourceInput = CLASSIFIER_WEIGHTS): Promise<FeatureExtractor> {
  const w = await loadClassifierWeights(source);
  return {
    name: "fashion-mnist-cnn-v1",
    dim: 128,
    inputSize: [28, 28],
    numClasses: 10,
    async extract(images, want) {
      const x = classifierInput(images);
      const { features, logits } = classifierForward(w, x);
      try {
        return { features: (await features.data()) as Float32Array, logits: want.logits ? ((await logits.data()) as Float32Array) : undefined };
      } finally {
        tf.dispose([x, features, logits]);
      }
    },
    dispose() {
      tf.dispose(Object.values(w));
    },
  };
}

export default createFeatureExtractor;
