import { CheckpointFormatError, encodePng, imageGrid, ModelNotCachedError, openCheckpoint, type RgbImage, resolveModel } from "@nextscale/core";
import { downsampleRatio, imageSize, inferVqvaeConfig, loadVqvae, type VQVAE, type VqvaeConfig, VqvaeInputError } from "@nextscale/tokenizer";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { resizeForModel, resizeHint } from "../fit-image.js";
import { fromSignedImages, readImageFile } from "../images.js";
import { checkOutputFile, writeFileAtomic } from "../output.js";
import { loadingBars, progressBar } from "../progress.js";
import { type Command, UsageError } from "./types.js";

/** `rec.png` -> `rec-previews.png`. */
export function previewsPath(out: string): string {
  return out.toLowerCase().endsWith(".png") ? `${out.slice(0, -4)}-previews.png` : `${out}-previews.png`;
}

/**
 * `--patch-nums`: two or more positive integers, strictly increasing (the
 * token maps go coarse to fine; the official quantizer interpolates the
 * residual down to each and the last is the latent itself).
 */
export function parsePatchNums(s: string): number[] {
  const parts = s.split(",").map((x) => x.trim());
  const pns = parts.map(Number);
  if (pns.length < 2 || !parts.every((x) => /^\d+$/.test(x)) || !pns.every((p) => Number.isSafeInteger(p) && p > 0)) {
    throw new UsageError(`--patch-nums must be two or more positive integers separated by commas, e.g. 1,2,3,4,5,6,8,10,13,16 (got "${s}")`);
  }
  const k = pns.findIndex((p, i) => i > 0 && p <= pns[i - 1]);
  if (k > 0) {
    throw new UsageError(
      `--patch-nums must be strictly increasing, coarse to fine (each token map larger than the one before, the last the latent side): got ${pns.join(",")}, where ${pns[k]} follows ${pns[k - 1]}`,
    );
  }
  return pns;
}

/** User errors of the tokenizer become one-line messages (exit status 1). */
/** Open the VQ-VAE checkpoint (a path, URL or cached name), its errors naming --vae. */
async function openVae(vaePath: string) {
  try {
    return await openCheckpoint(await resolveModel(vaePath));
  } catch (e) {
    if (e instanceof CheckpointFormatError || e instanceof ModelNotCachedError) throw new UsageError(`--vae ${vaePath}: ${e.message}`, 1);
    throw e;
  }
}

async function asUserError<T>(what: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof VqvaeInputError) throw new UsageError(`${what}: ${e.message.replace("pass patchNums", "pass --patch-nums")}`, 1);
    throw e;
  }
}

/**
 * The image side the VQ-VAE takes with these patch_nums: the official
 * quantizer requires the last token map to be the latent itself
 * (`f_to_idxBl_or_fhat` asserts patch_hws[-1] == (H, W) of the latent), so
 * the image is last × the downsampling (16 for the official VQ-VAE).
 */
function sizeMismatch(image: string, rgb: RgbImage, config: VqvaeConfig, explicit: boolean): string {
  const S = imageSize(config);
  const ds = downsampleRatio(config);
  const pns = config.patchNums;
  let msg = `--image ${image} is ${rgb.width}×${rgb.height}, but this VQ-VAE takes ${S}×${S} images (patch_nums [${pns}]: the last token map, ${pns[pns.length - 1]}×${pns[pns.length - 1]}, is the latent, ${ds}× smaller than the image); ${resizeHint(S)}`;
  const side = rgb.width / ds;
  if (rgb.width === rgb.height && Number.isInteger(side) && side > 1) {
    msg += `, or pass --patch-nums ending in ${side} to encode it at its own size`;
  } else if (explicit && rgb.width === rgb.height && !Number.isInteger(side)) {
    msg += ` (no --patch-nums fits ${rgb.width} px: the side must be a multiple of ${ds})`;
  }
  return msg;
}

export const reconstruct: Command = {
  name: "reconstruct",
  summary: "encode an image into the VQ-VAE's multi-scale tokens and decode it back (--previews: coarse-to-fine strip)",
  usage: `usage: nextscale reconstruct --vae F --image in.png --out rec.png [--resize] [--previews] [--patch-nums 1,2,…]

Encodes the image into the VQ-VAE's token maps, one per scale, and decodes
them back, as the official img_to_reconstructed_img does. The flags, the
image and the output files are checked before the checkpoint is loaded;
progress (encoding, then one decoder pass per image written) goes to stderr.

  --vae F            VQ-VAE checkpoint (vae_ch160v4096z32.pth; path, URL, or
                     vae: the cached file, see nextscale download)
  --image in.png     PNG or JPEG of the model's image size (256×256 for the
                     256 px token maps, 512×512 with --patch-nums of 512 px);
                     any size with --resize
  --resize           bring an image of any size to the model's: the shorter
                     side resized to 1.125× the model's side (Lanczos), then
                     the centre cropped, as the official preprocessing does
                     (applied to every image, one of the right size too)
  --out rec.png      where to write the reconstruction (PNG; its folder must
                     exist)
  --previews         also write <out>-previews.png: the image decoded after each
                     scale, coarse to fine, side by side; the last is the final
                     reconstruction
  --patch-nums L     token-map sides, strictly increasing, e.g.
                     1,2,3,4,6,9,13,18,24,32 for 512 px (default: the
                     checkpoint's 256 px list; required for checkpoints trained
                     with another number of scales). The last is the latent
                     side: the image side / 16 for the official VQ-VAE

  --backend B        webgpu, native, wasm or cpu (default: NEXTSCALE_BACKEND, else native, then wasm)`,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        vae: { type: "string" },
        image: { type: "string" },
        out: { type: "string" },
        previews: { type: "boolean", default: false },
        "patch-nums": { type: "string" },
        resize: { type: "boolean", default: false },
        backend: { type: "string" },
      },
    });
    const { vae: vaePath, image, out } = values;
    if (!vaePath || !image || !out) {
      throw new UsageError(`missing ${["vae", "image", "out"].filter((k) => !values[k as "vae"]).map((k) => `--${k}`).join(", ")}`);
    }
    // everything the run needs is checked before the checkpoint is loaded
    checkOutputFile(out, "--out");
    const strip = values.previews ? previewsPath(out) : undefined;
    if (strip) checkOutputFile(strip, "--previews");
    const patchNums = values["patch-nums"] ? parsePatchNums(values["patch-nums"]) : undefined;
    const rgb = readImageFile(image, "--image");

    const store = await openVae(vaePath);
    let vae: VQVAE;
    let input: RgbImage;
    try {
      const shapes = Object.fromEntries(store.keys().map((k) => [k, store.info(k).shape]));
      const config = await asUserError(`--vae ${vaePath}`, () => inferVqvaeConfig(shapes, patchNums ? { patchNums } : {}));
      const S = imageSize(config);
      if (values.resize) input = resizeForModel(rgb, S, `--image ${image}`, io);
      else if (rgb.width !== S || rgb.height !== S) throw new UsageError(sizeMismatch(image, rgb, config, !!patchNums), 1);
      else input = rgb;
      const backend = await chooseBackend(values.backend);
      io.err(`backend: ${backend}\n`);
      const bars = loadingBars(io);
      vae = await asUserError(`--vae ${vaePath}`, () => loadVqvae(store, { config, pack: true, onProgress: (p) => bars({ ...p, model: "vae" }) }));
    } finally {
      await store.close();
    }
    try {
      const S = vae.imageSize();
      const K = vae.config.patchNums.length;
      // encoding (encoder + quantizer: f̂ after every scale), then one decoder pass per frame;
      // decoding every scale costs K decoder passes: only with --previews
      const bar = progressBar(io, "reconstruct", "pass");
      const passes = 1 + (values.previews ? K : 1);
      bar({ done: 0, total: passes });
      const img = tf.tidy(() => tf.sub(tf.mul(tf.tensor4d(input.data, [1, S, S, 3]), 2), 1) as tf.Tensor4D);
      let fHats: tf.Tensor4D[];
      try {
        fHats = await asUserError(`--image ${image}`, () => vae.fHatPerScale(img));
      } finally {
        img.dispose();
      }
      const frames: RgbImage[] = [];
      try {
        await fHats[K - 1].data(); // the encoding is done (webgpu runs lazily)
        bar({ done: 1, total: passes });
        for (const f of values.previews ? fHats : [fHats[K - 1]]) {
          const dec = vae.decode(f);
          try {
            frames.push((await fromSignedImages(dec))[0]);
          } finally {
            dec.dispose();
          }
          bar({ done: 1 + frames.length, total: passes });
        }
      } finally {
        tf.dispose(fHats);
      }
      writeFileAtomic(out, encodePng(frames[frames.length - 1]));
      io.out(`wrote ${out} (${S}×${S}, ${K} scales: ${vae.config.patchNums.join(",")})\n`);
      if (strip) {
        writeFileAtomic(strip, encodePng(imageGrid(frames)));
        io.out(`wrote ${strip} (${frames.length} previews, coarse to fine)\n`);
      }
    } finally {
      vae.dispose();
    }
    return 0;
  },
};
