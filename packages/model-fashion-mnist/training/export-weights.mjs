// Writes the package's weights from the training runs: weights/vae.safetensors (stage 1's
// vqvae.safetensors as it is) and weights/var.safetensors (the model tensors of stage 2's
// newest checkpoint, or of --checkpoint F; the optimizer's state left out; the step and the
// training configuration in the metadata).
//   pnpm build && node packages/model-fashion-mnist/training/export-weights.mjs [--checkpoint F]
import { copyFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

const here = new URL(".", import.meta.url).pathname;
const weights = new URL("../weights/", import.meta.url).pathname;
const core = await import(new URL("../../core/dist/index.js", import.meta.url).href);
const { values } = parseArgs({ options: { checkpoint: { type: "string" } } });
const ckpt =
  values.checkpoint ??
  `${here}var/${readdirSync(`${here}var`)
    .filter((f) => /^ckpt-\d+\.safetensors$/.test(f))
    .sort()
    .at(-1)}`;

const store = await core.openCheckpoint(ckpt);
const tensors = [];
try {
  if (store.metadata.format !== "nextscale-train-checkpoint") throw new Error(`${ckpt}: not a nextscale training checkpoint`);
  for (const k of store.keys()) if (!k.startsWith("optimizer.")) tensors.push([k, await store.read(k)]);
} finally {
  await store.close();
}
const meta = { format: "nextscale-var", step: String(store.metadata.step), config: String(store.metadata.config), source: ckpt.slice(ckpt.lastIndexOf("/") + 1) };
writeFileSync(`${weights}var.safetensors.tmp`, core.writeSafetensors(tensors, meta));
renameSync(`${weights}var.safetensors.tmp`, `${weights}var.safetensors`);
copyFileSync(`${here}vqvae/vqvae.safetensors`, `${weights}vae.safetensors`);
console.log(`weights/var.safetensors: ${tensors.length} tensors from ${meta.source} (step ${meta.step}); weights/vae.safetensors from vqvae/vqvae.safetensors`);
