// Writes the package's weights from the training runs: weights/vae.safetensors (stage 3's
// decoder/vqvae.safetensors as it is when that run has finished, else stage 1's
// vqvae/vqvae.safetensors, or --vae F: stage 3 changes only the decoder, so the token maps
// stage 2 trained on are the same) and weights/var.safetensors (the model tensors of
// stage 2's newest checkpoint, or of --checkpoint F; the optimizer's state left out; the
// step and the training configuration in the metadata).
// --out DIR writes the two files there instead (to measure a checkpoint without touching weights/).
// --half stores the VAR's float tensors as float16 (half the size; the loader widens them to float32
// exactly; the rounding is float32 -> float16 to nearest even, its largest relative error printed).
//   pnpm build && node packages/model-fashion-mnist/training/export-weights.mjs [--checkpoint F] [--vae F] [--out DIR] [--half]
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

// toHalf's view of a float32's bits (one buffer, not one per value)
const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

const here = new URL(".", import.meta.url).pathname;
const core = await import(new URL("../../core/dist/index.js", import.meta.url).href);
const { values } = parseArgs({ options: { checkpoint: { type: "string" }, vae: { type: "string" }, out: { type: "string" }, half: { type: "boolean", default: false } } });
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
  if (values.half) {
    let worst = 0;
    for (const entry of tensors) {
      const t = entry[1];
      if (t.dtype !== "float32") continue;
      const h = new Uint16Array(t.data.length);
      for (let i = 0; i < h.length; i++) {
        h[i] = toHalf(t.data[i]);
        const back = core.halfToFloat(h[i]);
        const x = t.data[i];
        if (!Number.isFinite(x)) {
          if (!Object.is(back, x) && !(Number.isNaN(x) && Number.isNaN(back))) throw new Error(`${entry[0]}[${i}]: ${x} -> ${back}`);
        } else if (Math.abs(x) >= 6.2e-5) worst = Math.max(worst, Math.abs(back - x) / Math.abs(x)); // normal halves
        else if (Math.abs(back - x) > 2 ** -25) throw new Error(`${entry[0]}[${i}]: ${x} -> ${back}`);
      }
      entry[1] = { dtype: "float16", shape: t.shape, data: h };
    }
    console.log(`float16: largest relative rounding error ${worst.toExponential(2)} (at most 2^-11 = 4.9e-4)`);
  }
} finally {
  await store.close();
}
const meta = { format: "nextscale-var", step: String(store.metadata.step), config: String(store.metadata.config), source: ckpt.slice(ckpt.lastIndexOf("/") + 1) };
writeFileSync(`${weights}var.safetensors.tmp`, core.writeSafetensors(tensors, meta));
renameSync(`${weights}var.safetensors.tmp`, `${weights}var.safetensors`);
const vae = values.vae ?? (existsSync(`${here}decoder/vqvae.safetensors`) ? `${here}decoder/vqvae.safetensors` : `${here}vqvae/vqvae.safetensors`);
copyFileSync(vae, `${weights}vae.safetensors`);
console.log(`${weights}var.safetensors: ${tensors.length} tensors from ${meta.source} (step ${meta.step}); ${weights}vae.safetensors from ${vae.replace(here, "training/")}`);

/** float32 -> float16 bits, rounded to nearest even (overflow to infinity; weights never reach 65504). */
function toHalf(x) {
  f32[0] = x;
  const b = f32Bits[0];
  const sign = (b >>> 16) & 0x8000;
  const biased = (b >>> 23) & 0xff;
  const e = biased - 127 + 15;
  let m = b & 0x7fffff;
  if (biased === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    m |= 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}
