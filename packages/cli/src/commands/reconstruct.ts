import { writeFileSync } from "node:fs";
import { encodePng, imageGrid, resolveModel } from "@nextscale/core";
import { loadVqvae, type VQVAE, VqvaeInputError } from "@nextscale/tokenizer";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { fromSignedImages, readImageFile } from "../images.js";
import { type Command, UsageError } from "./types.js";

/** `rec.png` -> `rec-previews.png`. */
export function previewsPath(out: string): string {
  return out.toLowerCase().endsWith(".png") ? `${out.slice(0, -4)}-previews.png` : `${out}-previews.png`;
}

function parsePatchNums(s: string): number[] {
  const pns = s.split(",").map((x) => Number(x.trim()));
  if (pns.length < 2 || !pns.every((p) => Number.isInteger(p) && p > 0)) {
    throw new UsageError(`--patch-nums must be two or more positive integers separated by commas (got "${s}")`);
  }
  return pns;
}

/** User errors of the tokenizer become one-line messages (exit status 1). */
async function asUserError<T>(what: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof VqvaeInputError) throw new UsageError(`${what}: ${e.message.replace("pass patchNums", "pass --patch-nums")}`, 1);
    throw e;
  }
}

export const reconstruct: Command = {
  name: "reconstruct",
  summary: "encode an image into the VQ-VAE's multi-scale tokens and decode it back (--previews: coarse-to-fine strip)",
  usage: `usage: nextscale reconstruct --vae F --image in.png --out rec.png [--previews] [--patch-nums 1,2,…]

Encodes the image into the VQ-VAE's token maps, one per scale, and decodes
them back, as the official img_to_reconstructed_img does.

  --vae F            VQ-VAE checkpoint (vae_ch160v4096z32.pth; path, URL, or
                     vae: the cached file, see nextscale download)
  --image in.png     PNG or JPEG of exactly the model's image size (256×256 for
                     the 256 px token maps, 512×512 with --patch-nums of 512 px)
  --out rec.png      where to write the reconstruction (PNG)
  --previews         also write <out>-previews.png: the image decoded after each
                     scale, coarse to fine, side by side; the last is the final
                     reconstruction
  --patch-nums L     token-map sides, e.g. 1,2,3,4,6,9,13,18,24,32 for 512 px
                     (default: the checkpoint's 256 px list; required for
                     checkpoints trained with another number of scales)

  --backend B        webgpu, wasm or cpu (default: NEXTSCALE_BACKEND, else wasm)`,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        vae: { type: "string" },
        image: { type: "string" },
        out: { type: "string" },
        previews: { type: "boolean", default: false },
        "patch-nums": { type: "string" },
        backend: { type: "string" },
      },
    });
    const { vae: vaePath, image, out } = values;
    if (!vaePath || !image || !out) {
      throw new UsageError(`missing ${["vae", "image", "out"].filter((k) => !values[k as "vae"]).map((k) => `--${k}`).join(", ")}`);
    }
    const patchNums = values["patch-nums"] ? parsePatchNums(values["patch-nums"]) : undefined;
    const rgb = readImageFile(image, "--image");

    await chooseBackend(values.backend);
    const vae: VQVAE = await asUserError(`--vae ${vaePath}`, async () => loadVqvae(await resolveModel(vaePath), { patchNums, pack: true }));
    try {
      const S = vae.imageSize();
      if (rgb.width !== S || rgb.height !== S) {
        throw new UsageError(
          `--image ${image} is ${rgb.width}×${rgb.height}, but this VQ-VAE takes ${S}×${S} images (patch_nums [${vae.config.patchNums}]); resize or crop it to ${S}×${S} first`,
          1,
        );
      }
      const img = tf.tidy(() => tf.sub(tf.mul(tf.tensor4d(rgb.data, [1, S, S, 3]), 2), 1) as tf.Tensor4D);
      // decoding every scale costs K decoder passes: only with --previews
      const perScale = await asUserError(`--image ${image}`, () =>
        values.previews ? vae.reconstruct(img, { allScales: true }) : [vae.reconstruct(img)],
      );
      img.dispose();
      const frames = (await Promise.all(perScale.map(fromSignedImages))).map((imgs) => imgs[0]);
      tf.dispose(perScale);
      writeFileSync(out, encodePng(frames[frames.length - 1]));
      io.out(`wrote ${out} (${S}×${S}, ${vae.config.patchNums.length} scales: ${vae.config.patchNums.join(",")})\n`);
      if (values.previews) {
        const strip = previewsPath(out);
        writeFileSync(strip, encodePng(imageGrid(frames)));
        io.out(`wrote ${strip} (${frames.length} previews, coarse to fine)\n`);
      }
    } finally {
      vae.dispose();
    }
    return 0;
  },
};
