import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodePng, imageGrid, type RgbImage } from "@nextscale/core";
import { GENERATE_DEFAULTS, generate, imageLabel, type LoadedModels, loadModels } from "@nextscale/sampler";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { toRgbImages } from "../images.js";
import { progressBar } from "../progress.js";
import { type Command, type CommandIO, UsageError } from "./types.js";

export const NO_DEFAULT_MODEL =
  "no bundled default model yet: pass --vae and --var, e.g. --vae vae --var var-d16 after `nextscale download vae var-d16` (the official vae_ch160v4096z32.pth and var_d16.pth)";

/** Options shared by `generate` and `edit`. */
export const SAMPLING_OPTIONS = {
  vae: { type: "string" },
  var: { type: "string" },
  class: { type: "string", multiple: true },
  cfg: { type: "string" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  seed: { type: "string" },
  smooth: { type: "boolean", default: false },
  backend: { type: "string" },
  batch: { type: "string" },
  out: { type: "string" },
} as const;

export const SAMPLING_USAGE = `  --vae F, --var F   checkpoints (.pth or .safetensors; paths or URLs), or names
                     of cached official files: vae, var-d16 … var-d36 (see
                     nextscale download); the VAR's configuration (depth,
                     patch_nums …) is inferred
  --class N …        class labels (repeat the flag or separate with commas);
                     -1 = unconditional
  --cfg X            classifier-free guidance, reached at the last scale (default ${GENERATE_DEFAULTS.cfg})
  --top-k K          keep the K most likely tokens (default ${GENERATE_DEFAULTS.topK}; 1 = greedy)
  --top-p P          nucleus mass (default ${GENERATE_DEFAULTS.topP}; 0 = off)
  --seed S           random seed (default ${GENERATE_DEFAULTS.seed}); image i draws from its own stream
                     (seed, i), so the same seed and backend give the same images
                     at any --batch
  --smooth           Gumbel-softmax smoothing (prettier previews; not for FID)
  --backend B        webgpu, wasm or cpu (default: NEXTSCALE_BACKEND, else wasm)
  --batch N          images per forward pass (default 8)`;

type SamplingValues = { [K in keyof typeof SAMPLING_OPTIONS]?: (typeof SAMPLING_OPTIONS)[K]["type"] extends "boolean" ? boolean : K extends "class" ? string[] : string };

function num(v: string | undefined, flag: string, fallback: number, check: (x: number) => boolean, what: string): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !check(x)) throw new UsageError(`${flag} must be ${what} (got "${v}")`);
  return x;
}

/** Parse the sampling flags into generate() options. */
export function samplingSettings(v: SamplingValues) {
  return {
    cfg: num(v.cfg, "--cfg", GENERATE_DEFAULTS.cfg, (x) => x >= 0, "a non-negative number"),
    topK: num(v["top-k"], "--top-k", GENERATE_DEFAULTS.topK, (x) => Number.isInteger(x) && x >= 0, "a non-negative integer"),
    topP: num(v["top-p"], "--top-p", GENERATE_DEFAULTS.topP, (x) => x >= 0 && x <= 1, "a number in [0, 1]"),
    seed: num(v.seed, "--seed", GENERATE_DEFAULTS.seed, Number.isSafeInteger, "an integer"),
    moreSmooth: !!v.smooth,
    batch: num(v.batch, "--batch", 8, (x) => Number.isInteger(x) && x >= 1, "a positive integer"),
  };
}

/** `--shard K/N` -> {K, N} with 0 <= K < N. */
export function parseShard(v: string | undefined): { k: number; n: number } {
  if (v === undefined) return { k: 0, n: 1 };
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(v);
  const k = m ? Number(m[1]) : Number.NaN;
  const n = m ? Number(m[2]) : Number.NaN;
  if (!(Number.isSafeInteger(k) && Number.isSafeInteger(n) && n >= 1 && k < n)) {
    throw new UsageError(`--shard must be K/N with 0 <= K < N, e.g. 0/4 (got "${v}")`);
  }
  return { k, n };
}

/**
 * The run's image plan: image i (its global index) has the label
 * `labels[i]`, the file name `<class>_<k>.png` (k: how many earlier images of
 * the run have that class) and draws from the stream (seed, i). With classes,
 * image i is the (i mod K)-th of class classes[⌊i / K⌋]; without, its class
 * is the one generate() draws for it (`imageLabel(seed, i)`). Every shard
 * and resumed run computes the same plan, so their files fill one folder.
 */
export function imagePlan(classes: readonly number[], perClass: number, seed: number, numClasses: number) {
  const total = classes.length ? classes.length * perClass : perClass;
  const labels = Array.from({ length: total }, (_, i) => (classes.length ? classes[Math.floor(i / perClass)] : imageLabel(seed, i, numClasses)));
  const seen = new Map<number, number>();
  const names = labels.map((c) => {
    const k = seen.get(c) ?? 0;
    seen.set(c, k + 1);
    return `${c === -1 ? "uncond" : c}_${k}.png`;
  });
  return { total, labels, names };
}

/** `--class 1 --class 2,3` -> [1, 2, 3]; checked against the model's classes. */
export function parseClasses(values: string[] | undefined, numClasses: number): number[] {
  const out: number[] = [];
  for (const part of (values ?? []).flatMap((s) => s.split(","))) {
    const c = Number(part.trim());
    if (part.trim() === "" || !Number.isInteger(c) || c < -1 || c >= numClasses) {
      throw new UsageError(`unknown class "${part.trim()}": this model has classes 0…${numClasses - 1} (-1 = unconditional)`);
    }
    out.push(c);
  }
  return out;
}

export async function loadForSampling(v: SamplingValues, io: CommandIO): Promise<LoadedModels> {
  if (!v.vae || !v.var) throw new UsageError(NO_DEFAULT_MODEL, 1);
  const backend = await chooseBackend(v.backend);
  io.err(`backend: ${backend}\n`);
  return loadModels({ vae: v.vae, var: v.var });
}

export const generateCommand: Command = {
  name: "generate",
  summary: "generate images scale by scale (classifier-free guidance, top-k/top-p, seeds) into a grid or a folder",
  usage: `usage: nextscale generate [--vae F --var F] [--class N …] [--n-per-class K] [--cfg 1.5] [--top-k 900]
                          [--top-p 0.96] [--seed S] [--smooth] [--backend B] (--out grid.png | --out-dir DIR)
                          [--shard K/N] [--start S]

Generates K images for each class (without --class: K images of classes drawn
from the seed). --out writes one PNG grid (a row per class); --out-dir writes
one PNG per image named <class>_<index>.png (index: the image's number within
its class), each batch as soon as it is done. Progress and ETA go to stderr.

The run's images are numbered 0 … total−1 (class by class, in --class order);
image i's class, file name and random stream depend only on i and the seed,
so a grid, a folder, any --batch, shards and resumed runs give the same
images, byte for byte.

${SAMPLING_USAGE}
  --n-per-class K    images per class (default 1)
  --out grid.png     one grid image
  --out-dir DIR      one PNG per image
  --shard K/N        only the images i with i mod N = K (e.g. one task of a job
                     array of N); the N shards together write the whole run
  --start S          only the images i >= S (resume a run that stopped after
                     image S−1; with --shard, counted over the whole run)`,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { ...SAMPLING_OPTIONS, "n-per-class": { type: "string" }, "out-dir": { type: "string" }, shard: { type: "string" }, start: { type: "string" } },
    });
    if (!values.out === !values["out-dir"]) throw new UsageError("pass exactly one of --out grid.png and --out-dir DIR");
    const s = samplingSettings(values);
    const perClass = num(values["n-per-class"], "--n-per-class", 1, (x) => Number.isInteger(x) && x >= 1, "a positive integer");
    const shard = parseShard(values.shard);
    const start = num(values.start, "--start", 0, (x) => Number.isSafeInteger(x) && x >= 0, "a non-negative integer");
    if (values.out && (values.shard !== undefined || values.start !== undefined)) {
      throw new UsageError("--shard and --start write part of a run: use --out-dir DIR (a grid needs every image)");
    }
    const models = await loadForSampling(values, io);
    try {
      const { numClasses, patchNums } = models.var.config;
      const classes = parseClasses(values.class, numClasses);
      const plan = imagePlan(classes, perClass, s.seed, numClasses);
      if (start > plan.total) throw new UsageError(`--start ${start} is past the run's last image (${plan.total} images: 0 … ${plan.total - 1})`);
      // this process's images: i >= start with i mod N = K, in order
      const mine: number[] = [];
      for (let i = start + ((shard.k - (start % shard.n) + shard.n) % shard.n); i < plan.total; i += shard.n) mine.push(i);
      if (shard.n > 1 || start > 0) io.err(`images ${mine.length ? `${mine[0]} … ${mine.at(-1)}` : "none"}${shard.n > 1 ? ` (i mod ${shard.n} = ${shard.k})` : ""}: ${mine.length} of ${plan.total}\n`);
      const dir = values["out-dir"];
      if (dir) mkdirSync(dir, { recursive: true });
      const L = patchNums.reduce((a, p) => a + p * p, 0);
      const bar = progressBar(io, "generate", "tok");
      const images: RgbImage[] = [];
      let done = 0;
      for (let o = 0; o < mine.length; o += s.batch) {
        const batch = mine.slice(o, o + s.batch);
        const res = await generate(models.vae, models.var, {
          ...s,
          labels: batch.map((i) => plan.labels[i]),
          imageIndices: batch,
          onProgress: (p) => bar({ done: done + p.tokensDone * batch.length, total: L * mine.length }),
        });
        done += L * batch.length;
        const rgb = await toRgbImages(res.images);
        tf.dispose([res.images, res.fHat, ...res.indices]);
        if (!dir) images.push(...rgb);
        else for (const [b, im] of rgb.entries()) writeFileSync(join(dir, plan.names[batch[b]]), encodePng(im)); // batch by batch: a stopped run resumes with --start
      }
      if (values.out) {
        writeFileSync(values.out, encodePng(imageGrid(images, classes.length ? perClass : Math.min(images.length, 8))));
        io.err(`wrote ${values.out} (${images.length} images)\n`);
      } else {
        io.err(`wrote ${mine.length} images to ${dir}\n`);
      }
    } finally {
      models.dispose();
    }
    return 0;
  },
};
