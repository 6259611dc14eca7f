// Writes the package's weights from the training runs: weights/vae.safetensors (stage 3's
// decoder/vqvae.safetensors as it is when that run has finished, else stage 1's
// vqvae/vqvae.safetensors, or --vae F: stage 3 changes only the decoder, so the token maps
// stage 2 trained on are the same) and weights/var.safetensors (the model tensors of
// stage 2's newest checkpoint, or of --checkpoint F; the optimizer's state left out; the
// step and the training configuration in the metadata).
// --out DIR writes the two files there instead (to measure a checkpoint without touching weights/).
//   pnpm build && node packages/model-fashion-mnist/training/export-weights.mjs [--checkpoint F] [--vae F] [--out DIR]
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

const here = new URL(".", import.meta.url).pathname;
const core = await import(new URL("../../core/dist/index.js", import.meta.url).href);
const { values } = parseArgs({ options: { checkpoint: { type: "string" }, vae: { type: "string" }, out: { type: "string" } } });
const weights = values.out ? `${values.out.replace(/\/$/, "")}/` : new URL("../weights/", import.meta.url).pathname;
mkdirSync(weights, { recursive: true });
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
const vae = values.vae ?? (existsSync(`${here}decoder/vqvae.safetensors`) ? `${here}decoder/vqvae.safetensors` : `${here}vqvae/vqvae.safetensors`);
copyFileSync(vae, `${weights}vae.safetensors`);
console.log(`${weights}var.safetensors: ${tensors.length} tensors from ${meta.source} (step ${meta.step}); ${weights}vae.safetensors from ${vae.replace(here, "training/")}`);
