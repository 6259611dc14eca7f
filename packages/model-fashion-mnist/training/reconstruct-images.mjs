// Encodes and decodes a folder of 28×28 PNGs with a VQ-VAE (default: the package's weights),
// writing the reconstructions under the same names: the model card's "through the VQ-VAE" row.
//   pnpm build && node packages/model-fashion-mnist/training/reconstruct-images.mjs IN_DIR OUT_DIR [VAE.safetensors]
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const dist = (p) => import(new URL(`../../${p}/dist/index.js`, import.meta.url).href);
const [core, tok, backends] = await Promise.all(["core", "tokenizer", "backends"].map(dist));
const tf = createRequire(new URL("../../tokenizer/package.json", import.meta.url))("@tensorflow/tfjs-core");
const [src, out, vaeFile = new URL("../weights/vae.safetensors", import.meta.url).pathname] = process.argv.slice(2);
if (!src || !out) throw new Error("usage: reconstruct-images.mjs IN_DIR OUT_DIR [VAE.safetensors]");
await backends.initBackend(["wasm", "cpu"]);
const vae = await tok.loadVqvae(vaeFile);
const S = vae.imageSize();
mkdirSync(out, { recursive: true });
const files = readdirSync(src).filter((f) => f.endsWith(".png"));
for (let i = 0; i < files.length; i += 100) {
  const names = files.slice(i, i + 100);
  const ims = names.map((f) => core.decodeImage(new Uint8Array(readFileSync(join(src, f))), f));
  for (const [k, im] of ims.entries()) if (im.width !== S || im.height !== S) throw new Error(`${names[k]}: ${im.width}×${im.height}, the VQ-VAE takes ${S}×${S}`);
  const x = tf.tensor4d(Float32Array.from(ims.flatMap((im) => Array.from(im.data, (v) => v * 2 - 1))), [ims.length, S, S, 3]);
  const rec = vae.reconstruct(x);
  const d = await rec.data();
  names.forEach((f, j) => {
    const data = new Float32Array(S * S * 3);
    for (let k = 0; k < data.length; k++) data[k] = (d[j * data.length + k] + 1) / 2;
    writeFileSync(join(out, f), core.encodePng({ width: S, height: S, data }));
  });
  tf.dispose([x, rec]);
}
vae.dispose();
console.log(`reconstructed ${files.length} images into ${out}`);
