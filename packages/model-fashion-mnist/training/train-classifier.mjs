// Trains the evaluation's Fashion-MNIST classifier (src/classifier.ts) on the 60 000 training
// images of Debian's dataset-fashion-mnist, reports its accuracy on the 10 000 test images,
// and writes weights/classifier.safetensors (the run in its metadata) and training/classifier-log.json.
//   pnpm build && node packages/model-fashion-mnist/classifier/train-classifier.mjs [--epochs 2] [--data DIR]
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { classifierForward as forward, initClassifierWeights as initWeights, MEAN, STD, CLASSIFIER_WEIGHTS } from "../dist/classifier.js";

const { values } = parseArgs({ options: { epochs: { type: "string", default: "2" }, data: { type: "string", default: "/usr/share/datasets/fashion-mnist" }, batch: { type: "string", default: "128" }, lr: { type: "string", default: "1e-3" }, seed: { type: "string", default: "0" } } });
const backends = await import(new URL("../../backends/dist/index.js", import.meta.url).href);
const core = await import(new URL("../../core/dist/index.js", import.meta.url).href);
const train = await import(new URL("../../train/dist/index.js", import.meta.url).href);
const { createRequire } = await import("node:module");
const tf = createRequire(new URL("../../core/package.json", import.meta.url))("@tensorflow/tfjs-core");

await backends.initBackend(["wasm", "cpu"]);
core.registerGradients();
const info = backends.backendInfo();
console.error(`backend: ${info.name} (${info.device})`);

const read = async (f) => train.readIdx(new Uint8Array(readFileSync(`${values.data}/${f}`)), f);
const [xtr, ytr, xte, yte] = await Promise.all(["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"].map(read));
const N = xtr.dims[0];
const norm = (u8) => Float32Array.from(u8, (v) => (v / 255 - MEAN) / STD);
const trainX = norm(xtr.data);
const testX = norm(xte.data);
const epochs = Number(values.epochs);
const B = Number(values.batch);
const seed = Number(values.seed);
const w = initWeights(seed);
const opt = tf.train.adam(Number(values.lr));
const rng = new core.Random(seed);
const log = { started: new Date().toISOString(), machine: `${cpus()[0]?.model} ×${cpus().length}`, backend: info.name, epochs, batch: B, lr: Number(values.lr), seed, steps: [] };
const batchOf = (X, Y, idx) => {
  const x = new Float32Array(idx.length * 784);
  const y = new Int32Array(idx.length);
  idx.forEach((j, i) => {
    x.set(X.subarray(j * 784, j * 784 + 784), i * 784);
    y[i] = Y[j];
  });
  return { x: tf.tensor4d(x, [idx.length, 28, 28, 1]), y: tf.oneHot(tf.tensor1d(y, "int32"), 10) };
};
const t0 = performance.now();
let step = 0;
for (let e = 0; e < epochs; e++) {
  const perm = Array.from({ length: N }, (_, i) => i);
  for (let i = N - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  for (let s = 0; s + B <= N; s += B) {
    const { x, y } = batchOf(trainX, ytr.data, perm.slice(s, s + B));
    const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, forward(w, x).logits), true, Object.values(w));
    step++;
    if (step % 50 === 0) {
      const l = (await loss.data())[0];
      log.steps.push({ step, epoch: e, loss: l });
      console.error(`epoch ${e + 1}/${epochs} step ${step} loss ${l.toFixed(4)} ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    tf.dispose([x, y, loss]);
  }
}
const trainSeconds = (performance.now() - t0) / 1000;
let correct = 0;
const perClass = new Array(10).fill(0);
const perClassN = new Array(10).fill(0);
for (let s = 0; s < xte.dims[0]; s += 500) {
  const idx = Array.from({ length: Math.min(500, xte.dims[0] - s) }, (_, i) => s + i);
  const { x, y } = batchOf(testX, yte.data, idx);
  const { features, logits } = forward(w, x);
  const pred = await tf.argMax(logits, 1).data();
  idx.forEach((j, i) => {
    perClassN[yte.data[j]]++;
    if (pred[i] === yte.data[j]) {
      correct++;
      perClass[yte.data[j]]++;
    }
  });
  tf.dispose([x, y, features, logits]);
}
const accuracy = correct / xte.dims[0];
Object.assign(log, { trainSeconds, testAccuracy: accuracy, testAccuracyPerClass: perClass.map((c, k) => c / perClassN[k]), ended: new Date().toISOString() });
console.error(`test accuracy ${(accuracy * 100).toFixed(2)} % (per class ${log.testAccuracyPerClass.map((a) => (a * 100).toFixed(1)).join(" ")}); ${trainSeconds.toFixed(0)} s of training`);
const tensors = new Map();
for (const [k, v] of Object.entries(w)) tensors.set(k, { dtype: "float32", shape: v.shape, data: await v.data() });
const bytes = core.writeSafetensors(tensors, { format: "nextscale-fashion-mnist-classifier", version: "1", test_accuracy: String(accuracy), run: JSON.stringify({ epochs, batch: B, lr: log.lr, seed, backend: info.name }) });
const path = CLASSIFIER_WEIGHTS;
writeFileSync(`${path}.tmp`, bytes);
renameSync(`${path}.tmp`, path);
writeFileSync(new URL("./classifier-log.json", import.meta.url), `${JSON.stringify(log, null, 1)}\n`);
console.log(path);
