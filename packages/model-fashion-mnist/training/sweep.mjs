// The sampling sweep of the model card: for each setting (guidance, top-k, top-p) generate
// --per-class images of each class with the package's weights, quantised to 8 bits as PNGs
// are, and measure with the package's classifier (a) the accuracy on the class asked for and
// (b) the FID in its feature space against the 10 000 test images; the same two figures for
// the first --per-class training images of each class as the reference. Writes
// training/sweep.json and prints a Markdown table.
// --keep-scales 0,2,… also runs each setting with the first K scales' tokens taken from the
// reference images themselves (sampler keep.scales, every token kept there) and only the later
// scales generated: where in the coarse-to-fine order the generated images' FID is lost
// (0 = plain generation; the number of scales = the tokenizer's reconstructions).
// --vae F --var F measure other weights than the package's (e.g. a training checkpoint exported
// with export-weights.mjs --out DIR).
//   pnpm build && node packages/model-fashion-mnist/training/sweep.mjs [--per-class 50] [--data DIR]
//     [--cfg 4 --top-k 0 --top-p 0.9] [--keep-scales 0,1,2] [--vae F --var F] [--backend native]
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";

const dist = (p) => import(new URL(`../../${p}/dist/index.js`, import.meta.url).href);
const [backends, core, sampler, train, evalp, model] = await Promise.all(["backends", "core", "sampler", "train", "eval", "model-fashion-mnist"].map(dist));
const { createRequire } = await import("node:module");
const tf = createRequire(new URL("../../core/package.json", import.meta.url))("@tensorflow/tfjs-core");

const { values } = parseArgs({
  options: {
    "per-class": { type: "string", default: "50" },
    data: { type: "string", default: "/usr/share/datasets/fashion-mnist" },
    cfg: { type: "string", default: "1,1.5,2,3,4" },
    "top-k": { type: "string", default: "0,100" },
    "top-p": { type: "string", default: "0,0.9" },
    seed: { type: "string", default: "1" },
    "keep-scales": { type: "string", default: "0" },
    vae: { type: "string" },
    var: { type: "string" },
    backend: { type: "string", default: "wasm,cpu" },
    out: { type: "string", default: new URL("./sweep.json", import.meta.url).pathname },
  },
});
const K = Number(values["per-class"]);
const list = (s) => s.split(",").map(Number);
if (!values.vae !== !values.var) throw new Error("pass both --vae and --var, or neither (the package's weights)");
await backends.initBackend(values.backend.split(","));
const info = backends.backendInfo();
console.error(`backend: ${info.name} (${info.device})`);

const read = async (f) => train.readIdx(new Uint8Array(readFileSync(`${values.data}/${f}`)), f);
/** IDX images (N, 28, 28) → (n, 28, 28, 3) in [0, 1] for the chosen indices. */
const rgb = (idx, which) => {
  const out = new Float32Array(which.length * 784 * 3);
  which.forEach((j, i) => {
    for (let p = 0; p < 784; p++) out.fill(idx.data[j * 784 + p] / 255, (i * 784 + p) * 3, (i * 784 + p) * 3 + 3);
  });
  return tf.tensor4d(out, [which.length, 28, 28, 3]);
};
const extractor = await model.createFeatureExtractor();
const statsOf = async (name, images, labels) => {
  const c = await evalp.computeStatistics({ name, images: [images] }, extractor, { keepLogits: !!labels, batchSize: 100 });
  images.dispose();
  return { stats: c.stats, acc: labels ? evalp.classAccuracy(c.logits, labels, 10).accuracy : undefined };
};
const [xte, xtr, ytr] = await Promise.all(["t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"].map(read));
const test = await statsOf("test", rgb(xte, Array.from({ length: xte.dims[0] }, (_, i) => i)));
// the reference: the first K training images of each class
const realIdx = [];
for (let c = 0; c < 10; c++) for (let j = 0, n = 0; n < K; j++) if (ytr.data[j] === c) realIdx.push(j), n++;
const realLabels = realIdx.map((j) => ytr.data[j]);
const real = await statsOf("real", rgb(xtr, realIdx), realLabels);
const fidTo = (s) => evalp.frechetDistance(test.stats, s).distance;
const reference = { images: realIdx.length, accuracy: real.acc, fid: fidTo(real.stats) };
console.error(`real training images (${K} per class): accuracy ${reference.accuracy.toFixed(3)}, FID ${reference.fid.toFixed(2)}`);

const files = values.vae ? { vae: values.vae, var: values.var } : model.modelFiles();
const models = await sampler.loadModels(files);
const labels = Array.from({ length: 10 * K }, (_, i) => Math.floor(i / K)); // = realLabels
const { patchNums } = models.var.config;
const P = patchNums[patchNums.length - 1];
const allKept = { size: P, data: new Float32Array(P * P).fill(1) };
const keeps = list(values["keep-scales"]);
/** The reference images' token maps per batch of 100 (one tensor per scale), encoded once for every --keep-scales run. */
const sources = [];
if (keeps.some((k) => k > 0)) {
  if (models.vae.imageSize() !== 28) throw new Error(`--keep-scales needs a VQ-VAE of 28×28 images, this one takes ${models.vae.imageSize()}`);
  for (let o = 0; o < labels.length; o += 100) {
    const x = rgb(xtr, realIdx.slice(o, o + 100));
    sources.push(tf.tidy(() => models.vae.imageToIndices(tf.sub(tf.mul(x, 2), 1))));
    x.dispose();
  }
}
const runs = [];
for (const keepScales of keeps)
  for (const cfg of list(values.cfg))
    for (const topK of list(values["top-k"]))
      for (const topP of list(values["top-p"])) {
        const t0 = performance.now();
        const parts = [];
        for (let o = 0; o < labels.length; o += 100) {
          const keep = keepScales > 0 ? { indices: sources[o / 100], mask: allKept, scales: keepScales } : undefined;
          const res = await sampler.generate(models.vae, models.var, { labels: labels.slice(o, o + 100), firstIndex: o, cfg, topK, topP, seed: Number(values.seed), keep });
          parts.push(tf.tidy(() => tf.div(tf.round(tf.mul(res.images, 255)), 255)));
          tf.dispose([res.images, res.fHat, ...res.indices]);
        }
        const seconds = (performance.now() - t0) / 1000;
        const images = tf.concat(parts, 0);
        tf.dispose(parts);
        const s = await statsOf("generated", images, labels);
        const run = { cfg, topK, topP, keepScales, accuracy: s.acc, fid: fidTo(s.stats), seconds };
        runs.push(run);
        console.error(`${keepScales ? `first ${keepScales} scales kept, ` : ""}cfg ${cfg} top-k ${topK} top-p ${topP}: accuracy ${run.accuracy.toFixed(3)}, FID ${run.fid.toFixed(2)} (${seconds.toFixed(1)} s)`);
      }
tf.dispose(sources.flat());
const out = { date: new Date().toISOString(), machine: `${cpus()[0]?.model} ×${cpus().length}`, backend: info.name, perClass: K, seed: Number(values.seed), weights: { ...files, step: (await core.openCheckpoint(files.var)).metadata.step }, reference, runs };
writeFileSync(values.out, `${JSON.stringify(out, null, 1)}\n`);
console.log(`| scales kept | guidance | top-k | top-p | accuracy | FID |\n| --- | --- | --- | --- | --- | --- |`);
console.log(`| real training images | | | | ${reference.accuracy.toFixed(3)} | ${reference.fid.toFixed(2)} |`);
for (const r of runs) console.log(`| ${r.keepScales || "none"} | ${r.cfg} | ${r.topK || "off"} | ${r.topP || "off"} | ${r.accuracy.toFixed(3)} | ${r.fid.toFixed(2)} |`);
models.dispose();
extractor.dispose?.();
