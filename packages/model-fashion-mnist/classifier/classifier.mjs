// The Fashion-MNIST classifier of this model's evaluation: a small CNN trained in this
// repository (train-classifier.mjs), used as a domain feature extractor (@nextscale/eval's
// FeatureExtractor, version 1): 128-d features before the last layer (FID in its feature space),
// 10 logits (accuracy on the class asked for, Inception Score).
//   nextscale fid real/ samples/ --features packages/model-fashion-mnist/classifier/classifier.mjs
// Run after `pnpm build` (it imports the built @nextscale/core).

import { createRequire } from "node:module";

const require = createRequire(new URL("../../core/package.json", import.meta.url));
const tf = require("@tensorflow/tfjs-core");
const core = await import(new URL("../../core/dist/index.js", import.meta.url).href);

export const WEIGHTS = new URL("./classifier.safetensors", import.meta.url);
/** Fashion-MNIST's pixel mean and standard deviation (the 60 000 training images, in [0, 1]). */
export const MEAN = 0.2860;
export const STD = 0.3530;

/** name → shape, NHWC convs (HWIO filters), dense (in, out). */
export const SHAPES = {
  "c1.w": [3, 3, 1, 32], "c1.b": [32],
  "c2.w": [3, 3, 32, 32], "c2.b": [32],
  "c3.w": [3, 3, 32, 64], "c3.b": [64],
  "fc1.w": [7 * 7 * 64, 128], "fc1.b": [128],
  "fc2.w": [128, 10], "fc2.b": [10],
};

/** Seeded He-uniform weights, zero biases. */
export function initWeights(seed = 0) {
  const out = {};
  let n = 0;
  for (const [k, s] of Object.entries(SHAPES)) {
    if (k.endsWith(".b")) out[k] = tf.variable(tf.zeros(s), true, `cls.${k}`);
    else {
      const fanIn = s.length === 4 ? s[0] * s[1] * s[2] : s[0];
      const b = Math.sqrt(6 / fanIn);
      out[k] = tf.variable(tf.randomUniform(s, -b, b, "float32", seed * 100 + n++), true, `cls.${k}`);
    }
  }
  return out;
}

/** (B, 28, 28, 1) normalised grayscale → { features (B, 128), logits (B, 10) }. */
export function forward(w, x) {
  return tf.tidy(() => {
    let h = tf.relu(tf.add(tf.conv2d(x, w["c1.w"], 1, "same"), w["c1.b"]));
    h = tf.relu(tf.add(tf.conv2d(h, w["c2.w"], 2, "same"), w["c2.b"]));
    h = tf.relu(tf.add(tf.conv2d(h, w["c3.w"], 2, "same"), w["c3.b"]));
    const features = tf.relu(tf.add(tf.matMul(tf.reshape(h, [h.shape[0], -1]), w["fc1.w"]), w["fc1.b"]));
    const logits = tf.add(tf.matMul(features, w["fc2.w"]), w["fc2.b"]);
    return { features, logits };
  });
}

/** RGB images (B, 28, 28, 3) in [0, 1] → the network's input. */
export function toInput(images) {
  return tf.tidy(() => tf.div(tf.sub(tf.mean(images, 3, true), MEAN), STD));
}

/** The trained weights (safetensors written by train-classifier.mjs). */
export async function loadWeights(path = WEIGHTS) {
  const store = await core.openCheckpoint(path instanceof URL ? path.pathname : path);
  const w = {};
  try {
    for (const [k, s] of Object.entries(SHAPES)) w[k] = tf.tensor(core.toFloat32(await store.read(k)), s);
  } finally {
    await store.close();
  }
  return w;
}

/** The classifier as a FeatureExtractor. */
export async function createFeatureExtractor() {
  const w = await loadWeights();
  return {
    name: "fashion-mnist-cnn-v1",
    dim: 128,
    inputSize: [28, 28],
    numClasses: 10,
    async extract(images, want) {
      const x = toInput(images);
      const { features, logits } = forward(w, x);
      const out = { features: await features.data(), logits: want.logits ? await logits.data() : undefined };
      tf.dispose([x, features, logits]);
      return out;
    },
    dispose() {
      tf.dispose(Object.values(w));
    },
  };
}
export default createFeatureExtractor;
