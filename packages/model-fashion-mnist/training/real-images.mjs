// Writes Fashion-MNIST images as PNG folders named as `nextscale generate --out-dir` names
// its files (<class>_<i>.png), for the model card's reference figures:
//   --split train --per-class 100   the first 100 training images of each class (1000 images)
//   --split test                     all 10 000 test images
//   pnpm build && node packages/model-fashion-mnist/training/real-images.mjs --split train --per-class 100 --out DIR
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const core = await import(new URL("../../core/dist/index.js", import.meta.url).href);
const train = await import(new URL("../../train/dist/index.js", import.meta.url).href);
const { values } = parseArgs({
  options: { split: { type: "string", default: "train" }, "per-class": { type: "string" }, out: { type: "string" }, data: { type: "string", default: "/usr/share/datasets/fashion-mnist" } },
});
if (!values.out || !["train", "test"].includes(values.split)) throw new Error("usage: real-images.mjs --split train|test [--per-class K] --out DIR");
const prefix = values.split === "train" ? "train" : "t10k";
const read = async (f) => train.readIdx(new Uint8Array(readFileSync(join(values.data, f))), f);
const [x, y] = await Promise.all([read(`${prefix}-images-idx3-ubyte.gz`), read(`${prefix}-labels-idx1-ubyte.gz`)]);
const K = values["per-class"] ? Number(values["per-class"]) : Number.POSITIVE_INFINITY;
mkdirSync(values.out, { recursive: true });
const seen = new Array(10).fill(0);
let n = 0;
for (let j = 0; j < x.dims[0]; j++) {
  const c = y.data[j];
  if (seen[c] >= K) continue;
  const data = new Float32Array(784 * 3);
  for (let p = 0; p < 784; p++) data.fill(x.data[j * 784 + p] / 255, p * 3, p * 3 + 3);
  writeFileSync(join(values.out, `${c}_${seen[c]++}.png`), core.encodePng({ width: 28, height: 28, data }));
  n++;
}
console.log(`wrote ${n} ${values.split} images to ${values.out}`);
