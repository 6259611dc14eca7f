import { encodePng, imageGrid, openCheckpoint, type RgbImage, resolveModel } from "@nextscale/core";
import { boxKeepMask, EditMaskError, generate, imageKeepMask, type KeepMask } from "@nextscale/sampler";
import { imageSize, inferVqvaeConfig } from "@nextscale/tokenizer";
import { inferVarConfig, patchNumsFromLevels } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { resizeForModel, resizeHint } from "../fit-image.js";
import { readImageFile, toRgbImages } from "../images.js";
import { checkOutputFile, writeFileAtomic } from "../output.js";
import { progressBar } from "../progress.js";
import { loadForSampling, parseClasses, resolveSamplingModels, SAMPLING_OPTIONS, SAMPLING_USAGE, samplingSettings } from "./generate.js";
import { type Command, UsageError } from "./types.js";

function parseBox(s: string): [number, number, number, number] {
  const parts = s.split(",").map((x) => x.trim());
  const v = parts.map(Number);
  if (v.length !== 4 || parts.some((x) => x === "") || !v.every(Number.isFinite)) {
    throw new UsageError(`--box must be y0,x0,y1,x1 (fractions of the image side, 0…1), e.g. 0.25,0.25,0.75,0.75 (got "${s}")`);
  }
  return v as [number, number, number, number];
}

/** What the models need from the input, read from the checkpoints' key shapes (no weights loaded). */
interface ModelShape {
  /** Image side. */
  S: number;
  /** The last scale's side (the keep-mask's). */
  P: number;
  /** The number of scales. */
  K: number;
}

/**
 * The image side and last scale of the models, from the checkpoints'
 * shapes (as the loaders infer them), so the image and the mask are checked
 * before the weights load. Undefined where that
 * cannot be told cheaply (a URL; anything unusual): the checks then run after
 * loading, and the loader reports a bad checkpoint.
 */
async function probeModels(v: { vae?: string; var?: string }): Promise<ModelShape | undefined> {
  if (!v.vae || !v.var || [v.vae, v.var].some((s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s))) return undefined;
  const open = async (name: string) => openCheckpoint(await resolveModel(name));
  try {
    const varStore = await open(v.var);
    let config: ReturnType<typeof inferVarConfig>;
    try {
      const shapes = Object.fromEntries(varStore.keys().map((k) => [k, varStore.info(k).shape]));
      const patchNums = varStore.has("lvl_1L") ? patchNumsFromLevels((await varStore.read("lvl_1L")).data as ArrayLike<number | bigint>) : undefined;
      config = inferVarConfig(shapes, patchNums ? { patchNums } : {});
    } finally {
      await varStore.close();
    }
    const vaeStore = await open(v.vae);
    try {
      const shapes = Object.fromEntries(vaeStore.keys().map((k) => [k, vaeStore.info(k).shape]));
      const vaeConfig = inferVqvaeConfig(shapes, { patchNums: config.patchNums });
      return { S: imageSize(vaeConfig), P: config.patchNums[config.patchNums.length - 1], K: config.patchNums.length };
    } finally {
      await vaeStore.close();
    }
  } catch {
    return undefined;
  }
}

function checkKeepScales(keepScales: number | undefined, K: number): void {
  if (keepScales !== undefined && keepScales > K) throw new UsageError(`--keep-scales ${keepScales}: this model has ${K} scales`);
}

/** The gray level of an image (the mean of R, G, B): 1 = white = marked. */
function grayLevels(img: RgbImage): { width: number; height: number; data: Float32Array } {
  const g = new Float32Array(img.width * img.height);
  for (let i = 0; i < g.length; i++) g[i] = (img.data[3 * i] + img.data[3 * i + 1] + img.data[3 * i + 2]) / 3;
  return { width: img.width, height: img.height, data: g };
}

export const edit: Command = {
  name: "edit",
  summary: "zero-shot in-painting, out-painting and class-conditional editing of an image",
  usage: `usage: nextscale edit --vae F --var F --image in.png (--box y0,x0,y1,x1 | --mask mask.png) [--outpaint]
                      [--keep-scales K] [--resize] --class N … --out out.png [sampling options]
       nextscale edit --image in.png --keep-scales K --class N … --out out.png   (variations)

Encodes the image into tokens and regenerates part of it, scale by scale,
keeping the source tokens elsewhere (the official zero-shot editing):
  in-painting (default)  the box / mask marks what is regenerated
  --outpaint             the box / mask marks what is kept; the rest is generated
  class-conditional edit in-paint a region under another --class
  --keep-scales K        keep the source tokens at the first K scales only,
                         generate every token of the later ones; without
                         --box/--mask the whole image: variations that keep
                         its coarse structure (K = 1 … number of scales)

The flags, the image, the mask and --out are checked before the models
load; the generation's progress and ETA go to stderr.

  --image in.png     PNG or JPEG of the model's image size (256×256 for d16–d30);
                     any size with --resize
  --resize           bring an image of any size to the model's: the shorter
                     side resized to 1.125× the model's side (Lanczos), then
                     the centre cropped, as the official preprocessing does
                     (applied to every image, one of the right size too; a
                     --mask must then be the image's size, and is cropped and
                     resized with it)
  --box y0,x0,y1,x1  region as fractions of the image side, e.g. 0.25,0.25,0.75,0.75
                     (0 <= y0 < y1 <= 1, 0 <= x0 < x1 <= 1)
  --mask mask.png    region as an image of the same size: white (> 0.5) = marked
                     The region must cover at least one token of the last
                     scale (16×16 px at 256 px): a smaller one would change
                     nothing and is refused
  --out out.png      the result (PNG; its folder must exist); with several
                     classes, one image per class side by side
${SAMPLING_USAGE}`,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        ...SAMPLING_OPTIONS,
        image: { type: "string" },
        box: { type: "string" },
        mask: { type: "string" },
        outpaint: { type: "boolean", default: false },
        resize: { type: "boolean", default: false },
        "keep-scales": { type: "string" },
      },
    });
    if (!values.image) throw new UsageError("missing --image");
    if (!values.out) throw new UsageError("missing --out");
    const keepScales = values["keep-scales"] === undefined ? undefined : Number(values["keep-scales"]);
    if (keepScales !== undefined && (!Number.isInteger(keepScales) || keepScales < 1)) {
      throw new UsageError(`--keep-scales must be a whole number of scales, at least 1 (got "${values["keep-scales"]}")`);
    }
    const whole = keepScales !== undefined && !values.box && !values.mask; // variations of the whole image
    if (values.box && values.mask) throw new UsageError("pass one of --box y0,x0,y1,x1 and --mask mask.png, not both");
    if (!whole && !values.box && !values.mask) {
      throw new UsageError("pass one of --box y0,x0,y1,x1 and --mask mask.png (or --keep-scales K alone, for variations of the whole image)");
    }
    if (whole && values.outpaint) throw new UsageError("--outpaint needs --box or --mask (what is kept)");
    if (!values.class?.length) throw new UsageError("pass --class N (the class to generate under; -1 = unconditional)");
    const out = values.out;
    checkOutputFile(out, "--out");
    samplingSettings(values); // the flags' values checked first; the model's own defaults below
    const mode = values.outpaint ? "outpaint" : "inpaint";
    const box = values.box ? parseBox(values.box) : undefined;
    const src = readImageFile(values.image, "--image");
    const maskImg = values.mask ? readImageFile(values.mask, "--mask") : undefined;
    if (values.resize && maskImg && (maskImg.width !== src.width || maskImg.height !== src.height)) {
      throw new UsageError(
        `--mask ${values.mask} is ${maskImg.width}×${maskImg.height}, but --image ${values.image} is ${src.width}×${src.height}: with --resize the mask is cropped and resized with the image, so it must be the image's size`,
        1,
      );
    }

    /** The image in [0, 1] at the model's side S and the keep-mask at its last scale P, or a clear error. */
    const prepare = (S: number, P: number): { S: number; P: number; image: RgbImage; mask: KeepMask } => {
      let image = src;
      if (values.resize) image = resizeForModel(src, S, `--image ${values.image}`, io);
      else if (src.width !== S || src.height !== S) {
        throw new UsageError(`--image ${values.image} is ${src.width}×${src.height}; this model needs ${S}×${S}: ${resizeHint(S)}`, 1);
      }
      try {
        if (whole) return { S, P, image, mask: { size: P, data: new Float32Array(P * P).fill(1) } };
        if (box) return { S, P, image, mask: boxKeepMask(P, box, mode, { imageSize: S }) };
        const m = values.resize ? resizeForModel(maskImg!, S, `--mask ${values.mask}`, io) : maskImg!;
        return { S, P, image, mask: imageKeepMask(grayLevels(m), S, P, mode) };
      } catch (e) {
        if (!(e instanceof EditMaskError)) throw e;
        // the library's "box 0.1,…" / "the box 0.1,…" is the flag's value
        if (box) throw new EditMaskError(/^(the )?box /.test(e.message) ? e.message.replace(/^(the )?box /, "--box ") : `--box ${values.box}: ${e.message}`);
        throw new EditMaskError(`--mask ${values.mask}${values.resize ? ` (after --resize to ${S}×${S})` : ""}: ${e.message}`);
      }
    };

    // the model files (found, the right kinds), then the image, the mask and the classes against the
    // checkpoints' shapes, all before the backend starts and the weights load
    const files = await resolveSamplingModels(values);
    const names = files.defaultModel?.classNames;
    const s = samplingSettings(values, files.defaultModel?.sampling);
    parseClasses(values.class, files.numClasses, names);
    const shape = await probeModels(files);
    if (shape) checkKeepScales(keepScales, shape.K);
    let ready = shape ? prepare(shape.S, shape.P) : undefined;

    const models = await loadForSampling(values, io, files);
    try {
      const { vae } = models;
      const { numClasses, patchNums } = models.var.config;
      const classes = parseClasses(values.class, numClasses, names);
      const S = vae.imageSize();
      const P = patchNums[patchNums.length - 1];
      if (!ready || ready.S !== S || ready.P !== P) ready = prepare(S, P);
      const { image, mask } = ready;
      checkKeepScales(keepScales, patchNums.length);
      const indices = tf.tidy(() => vae.imageToIndices(tf.sub(tf.mul(tf.tensor4d(image.data, [1, S, S, 3]), 2), 1) as tf.Tensor4D));
      const L = patchNums.reduce((a, p) => a + p * p, 0);
      const B = classes.length;
      const bar = progressBar(io, "edit", "tok");
      let res: Awaited<ReturnType<typeof generate>>;
      try {
        res = await generate(vae, models.var, {
          ...s,
          labels: classes,
          keep: { indices, mask, scales: keepScales },
          onProgress: (p) => bar({ done: p.tokensDone * B, total: L * B }),
        });
      } finally {
        tf.dispose(indices);
      }
      const images = await toRgbImages(res.images);
      tf.dispose([res.images, res.fHat, ...res.indices]);
      writeFileAtomic(out, encodePng(images.length === 1 ? images[0] : imageGrid(images)));
      const each = new Set(classes).size === classes.length ? "one per class" : "side by side";
      io.err(`wrote ${out}${images.length > 1 ? ` (${images.length} images, ${each})` : ""}\n`);
    } finally {
      models.dispose();
    }
    return 0;
  },
};
