import { writeFileSync } from "node:fs";
import { encodePng, imageGrid } from "@nextscale/core";
import { boxKeepMask, generate, imageKeepMask, type KeepMask } from "@nextscale/sampler";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { readImageFile, toRgbImages } from "../images.js";
import { loadForSampling, parseClasses, SAMPLING_OPTIONS, SAMPLING_USAGE, samplingSettings } from "./generate.js";
import { type Command, UsageError } from "./types.js";

function parseBox(s: string): [number, number, number, number] {
  const v = s.split(",").map((x) => Number(x.trim()));
  if (v.length !== 4 || !v.every(Number.isFinite)) throw new UsageError(`--box must be y0,x0,y1,x1 (fractions of the image side), got "${s}"`);
  return v as [number, number, number, number];
}

export const edit: Command = {
  name: "edit",
  summary: "zero-shot in-painting, out-painting and class-conditional editing of an image",
  usage: `usage: nextscale edit --vae F --var F --image in.png (--box y0,x0,y1,x1 | --mask mask.png) [--outpaint]
                      --class N … --out out.png [sampling options]

Encodes the image into tokens and regenerates part of it, scale by scale,
keeping the source tokens elsewhere (the official zero-shot editing):
  in-painting (default)  the box / mask marks what is regenerated
  --outpaint             the box / mask marks what is kept; the rest is generated
  class-conditional edit in-paint a region under another --class

  --image in.png     PNG or JPEG of the model's image size (256×256 for d16–d30)
  --box y0,x0,y1,x1  region as fractions of the image side, e.g. 0.25,0.25,0.75,0.75
  --mask mask.png    region as an image of the same size: white (> 0.5) = marked
  --out out.png      the result; with several classes, one image per class side by side
${SAMPLING_USAGE}`,
  async run(args, io) {
    const { values } = parseArgs({ args, options: { ...SAMPLING_OPTIONS, image: { type: "string" }, box: { type: "string" }, mask: { type: "string" }, outpaint: { type: "boolean", default: false } } });
    if (!values.image) throw new UsageError("missing --image");
    if (!values.out) throw new UsageError("missing --out");
    if (!values.box === !values.mask) throw new UsageError("pass exactly one of --box y0,x0,y1,x1 and --mask mask.png");
    if (!values.class?.length) throw new UsageError("pass --class N (the class to generate under; -1 = unconditional)");
    const s = samplingSettings(values);
    const mode = values.outpaint ? "outpaint" : "inpaint";
    const box = values.box ? parseBox(values.box) : undefined;
    const src = readImageFile(values.image, "--image");
    const maskImg = values.mask ? readImageFile(values.mask, "--mask") : undefined;
    const models = await loadForSampling(values, io);
    try {
      const { vae } = models;
      const { numClasses, patchNums } = models.var.config;
      const classes = parseClasses(values.class, numClasses);
      const S = vae.imageSize();
      if (src.width !== S || src.height !== S) {
        throw new UsageError(`--image ${values.image} is ${src.width}×${src.height}; this model needs ${S}×${S}`, 1);
      }
      const P = patchNums[patchNums.length - 1];
      let mask: KeepMask;
      if (box) mask = boxKeepMask(P, box, mode);
      else {
        // Gray level of the mask image (the mean of R, G, B).
        const g = new Float32Array(maskImg!.width * maskImg!.height);
        for (let i = 0; i < g.length; i++) g[i] = (maskImg!.data[3 * i] + maskImg!.data[3 * i + 1] + maskImg!.data[3 * i + 2]) / 3;
        mask = imageKeepMask({ width: maskImg!.width, height: maskImg!.height, data: g }, S, P, mode);
      }
      const indices = tf.tidy(() => vae.imageToIndices(tf.sub(tf.mul(tf.tensor4d(src.data, [1, S, S, 3]), 2), 1) as tf.Tensor4D));
      const res = await generate(vae, models.var, { ...s, labels: classes, keep: { indices, mask } });
      const out = await toRgbImages(res.images);
      tf.dispose([...indices, res.images, res.fHat, ...res.indices]);
      writeFileSync(values.out, encodePng(out.length === 1 ? out[0] : imageGrid(out)));
      io.err(`wrote ${values.out}\n`);
    } finally {
      models.dispose();
    }
    return 0;
  },
};
