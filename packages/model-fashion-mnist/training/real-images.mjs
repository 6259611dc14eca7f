// Writes Fashion-MNIST images as PNG folders named as `nextscale generate --out-dir` names
// its files (<class>_<i>.png), for the model card's reference figures:
//   --split train --per-class 100   the first 100 training images of each class (1000 images)
//   --split test                     all 10 000 test images
//   pnpm build && node packages/model-fashion-mnist/training/real-images.mjs --split train --per-class 100 --out DIR
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const core = await import(new URL("../../core/dist/index.js", import.meta.url).href);
const train = await import(new URL("../../train/dist/index.js", import.meta.url).href);
const { values } = parseArgs({
  options: { split: { type: "string", default: "train" }, "per-class": { type: "string" }, out: { type: "string" }, data: { type: "string", default: "/usr/share/datasets/fashion-mnist" } },
});
if (!values.out || !["train", "test"].includes(values.split)) throw new Error("usage: real-images.mjs --split train|test [--per-class K] --out DIR");
const prefix = values.split === "train" ? "train" : "t10k";
const ds = await train.IdxDataset.open(join(values.data, `${prefix}-images-idx3-ubyte.gz`), join(values.data, `${prefix}-labels-idx1-ubyte.gz`));
const K = values["per-class"] ? Number(values["per-class"]) : Number.POSITIVE_INFINITY;
mkdirSync(values.out, { recursive: true });
const seen = new Array(ds.numClasses).fill(0);
let n = 0;
for (let j = 0; j < ds.length; j++) {
  const c = ds.label(j);
  if (seen[c] >= K) continue;
  const im = await ds.image(j); // gray replicated to RGB, 8 bits
  writeFileSync(join(values.out, `${c}_${seen[c]++}.png`), core.encodePng({ width: im.width, height: im.height, data: Float32Array.from(im.data, (v) => v / 255) }));
  n++;
}
console.log(`wrote ${n} ${values.split} images to ${values.out}`);
