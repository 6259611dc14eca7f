// Writes a VQ-VAE training checkpoint's model (the optimizer's state left out) as the
// vqvae.safetensors `nextscale train vqvae` writes at the end of a run, for a run stopped
// before its end (the tokenizer of stage 1b was stopped before its discriminator started):
//   pnpm build && node packages/model-fashion-mnist/training/checkpoint-to-vqvae.mjs CKPT OUT.safetensors
import { renameSync, writeFileSync } from "node:fs";

const core = await import(new URL("../../core/dist/index.js", import.meta.url).href);
const [ckpt, out] = process.argv.slice(2);
if (!ckpt || !out) throw new Error("usage: checkpoint-to-vqvae.mjs CKPT OUT.safetensors");
const store = await core.openCheckpoint(ckpt);
const tensors = [];
let meta;
try {
  if (store.metadata.format !== "nextscale-train-checkpoint") throw new Error(`${ckpt}: not a nextscale training checkpoint`);
  const config = JSON.parse(String(store.metadata.config)).vqvae;
  if (!config) throw new Error(`${ckpt}: not a VQ-VAE run's checkpoint`);
  for (const k of store.keys()) if (!k.startsWith("optimizer.") && !k.startsWith("disc.")) tensors.push([k, await store.read(k)]);
  meta = { format: "nextscale-vqvae", patch_nums: config.patchNums.join(","), config: JSON.stringify(config), step: String(store.metadata.step), source: ckpt.slice(ckpt.lastIndexOf("/") + 1) };
} finally {
  await store.close();
}
writeFileSync(`${out}.tmp`, core.writeSafetensors(tensors, meta));
renameSync(`${out}.tmp`, out);
console.log(`${out}: ${tensors.length} tensors from ${meta.source} (step ${meta.step})`);
