import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { encodePng, imageGrid, inspectCheckpoint, OFFICIAL_MODELS, openCheckpoint, type RgbImage, resolveModel, type TensorStore } from "@nextscale/core";
import {
  classIndex,
  className,
  DefaultModelMissingError,
  defaultModel,
  GENERATE_DEFAULTS,
  generate,
  IMAGENET_CLASS_NAMES,
  imageLabel,
  type LoadedModels,
  loadModels,
  UnknownClassError,
} from "@nextscale/sampler";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { num } from "../flags.js";
import { toRgbImages, zoomImage } from "../images.js";
import { checkOutputFile, prepareOutputDir, writeFileAtomic } from "../output.js";
import { loadingBars, progressBar } from "../progress.js";
import { type Command, type CommandIO, UsageError } from "./types.js";

/** `--vae` without `--var` or the other way round. */
export const BOTH_OR_NEITHER =
  "pass both --vae and --var (e.g. --vae vae --var var-d16 after `nextscale download vae var-d16`), or neither for the bundled default model (Fashion-MNIST, @nextscale/model-fashion-mnist)";

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
                     patch_nums …) is inferred. Neither: the bundled default
                     model, Fashion-MNIST 28×28 (@nextscale/model-fashion-mnist)
  --class C …        classes: numbers 0 … N−1, or names: ImageNet's for the
                     official 1000-class models (207, golden_retriever, "golden
                     retriever"), Fashion-MNIST's for the default model
                     (sneaker, "ankle boot", T-shirt/top); repeat the flag or
                     separate with commas; -1 = unconditional
  --cfg X            classifier-free guidance, reached at the last scale (default ${GENERATE_DEFAULTS.cfg};
                     the default model's own: see its model card)
  --top-k K          keep the K most likely tokens (default ${GENERATE_DEFAULTS.topK}; 1 = greedy; 0 = all)
  --top-p P          nucleus mass (default ${GENERATE_DEFAULTS.topP}; 0 = off)
  --seed S           random seed (default ${GENERATE_DEFAULTS.seed}); image i draws from its own stream
                     (seed, i), so the same seed and backend give the same images
                     at any --batch
  --smooth           Gumbel-softmax smoothing (prettier previews; not for FID)
  --backend B        webgpu, native, wasm or cpu (default: NEXTSCALE_BACKEND, else native, then wasm)
  --batch N          images per forward pass (default: as many as keep the KV cache
                     within 256 MB, 8 to 64: 8 for the official models, 64 for
                     the default model)`;

type SamplingValues = { [K in keyof typeof SAMPLING_OPTIONS]?: (typeof SAMPLING_OPTIONS)[K]["type"] extends "boolean" ? boolean : K extends "class" ? string[] : string };

/** Parse the sampling flags into generate() options; unset ones take `defaults` (the model's own, else the official ones). */
export function samplingSettings(v: SamplingValues, defaults: { cfg: number; topK: number; topP: number } = GENERATE_DEFAULTS) {
  return {
    cfg: num(v.cfg, "--cfg", defaults.cfg, (x) => x >= 0, "a non-negative number"),
    topK: num(v["top-k"], "--top-k", defaults.topK, (x) => Number.isInteger(x) && x >= 0, "a non-negative integer"),
    topP: num(v["top-p"], "--top-p", defaults.topP, (x) => x >= 0 && x <= 1, "a number in [0, 1]"),
    seed: num(v.seed, "--seed", GENERATE_DEFAULTS.seed, Number.isSafeInteger, "an integer"),
    moreSmooth: !!v.smooth,
    /** Unset: `defaultBatch` of the model, once it is loaded. */
    batch: v.batch === undefined ? undefined : num(v.batch, "--batch", 8, (x) => Number.isInteger(x) && x >= 1, "a positive integer"),
  };
}

/**
 * `--batch`'s default for a VAR: as many images as keep the KV cache of both
 * guidance halves (2 · depth · L · C floats for keys and values, per half)
 * within 256 MB, from 8 (the official models': d16 already needs 178 MB an
 * image) up to 64, where small models stop gaining from larger batches.
 */
export function defaultBatch(config: { depth: number; embedDim: number; patchNums: readonly number[] }): number {
  const L = config.patchNums.reduce((a, p) => a + p * p, 0);
  const kvBytesPerImage = 2 * 2 * config.depth * L * config.embedDim * 4;
  return Math.min(64, Math.max(8, Math.floor((256 * 2 ** 20) / kvBytesPerImage)));
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

/** A class name as typed: case, spaces, `_` and `-` do not matter ("ankle_boot" = "Ankle Boot"). */
const nameKey = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, "");

/**
 * `--class 1 --class 2,3` -> [1, 2, 3], checked against the model's classes;
 * also names, mixed with numbers: the model's own (`names`, e.g. the default
 * model's "sneaker"), else for 1000-class models ImageNet's
 * (`golden_retriever`, "golden retriever": see `classIndex`). -1 = unconditional.
 */
export function parseClasses(values: string[] | undefined, numClasses: number, names?: readonly string[]): number[] {
  const out: number[] = [];
  const named = numClasses === IMAGENET_CLASS_NAMES.length;
  const own = names && new Map(names.map((n, i) => [nameKey(n), i]));
  for (const raw of (values ?? []).flatMap((s) => s.split(","))) {
    const part = raw.trim();
    if (part === "" || Number.isFinite(Number(part))) {
      const c = Number(part);
      if (part === "" || !Number.isInteger(c) || c < -1 || c >= numClasses) {
        throw new UsageError(`unknown class "${part}": this model has classes 0…${numClasses - 1} (-1 = unconditional)`);
      }
      out.push(c);
    } else if (own) {
      const c = own.get(nameKey(part));
      if (c === undefined) throw new UsageError(`unknown class "${part}": this model's classes are ${names!.map((n, i) => `${i} ${n}`).join(", ")} (-1 = unconditional)`);
      out.push(c);
    } else if (!named) {
      throw new UsageError(
        `--class "${part}": class names are ImageNet's, for the 1000-class models; this model has ${numClasses} classes, numbered 0…${numClasses - 1} (-1 = unconditional)`,
      );
    } else {
      try {
        out.push(classIndex(part));
      } catch (e) {
        if (e instanceof UnknownClassError) throw new UsageError(`--class: ${e.message}`);
        throw e;
      }
    }
  }
  return out;
}

/** A class as a person reads it: "207 golden retriever" (the model's `names`, else ImageNet's for 1000-class models), "3", "unconditional". */
export function classText(c: number, numClasses: number, names?: readonly string[]): string {
  if (c === -1 || c === numClasses) return "unconditional";
  if (names?.[c] !== undefined) return `${c} ${names[c]}`;
  return numClasses === IMAGENET_CLASS_NAMES.length ? `${c} ${className(c)}` : String(c);
}

/** One line naming the classes drawn from the seed (the first `max`, then how many images in all). */
export function drawnClassesLine(labels: readonly number[], seed: number, numClasses: number, max = 8, names?: readonly string[]): string {
  const shown = labels.slice(0, max).map((c) => classText(c, numClasses, names));
  const more = labels.length > max ? `, … (${labels.length} images)` : "";
  return `classes drawn from seed ${seed}: ${shown.join(", ")}${more}`;
}

/** The models' files, checked before the backend starts and before anything loads (see `resolveSamplingModels`). */
export interface ResolvedModels {
  /** The files: a name resolved to its cached file, paths and URLs as given. */
  vae: string;
  var: string;
  /** The VAR's number of classes (from its class_emb.weight). */
  numClasses: number;
  /** Set when neither --vae nor --var was given: the bundled default model, its class names and sampling settings. */
  defaultModel?: { name: string; classNames: readonly string[]; sampling: { cfg: number; topK: number; topP: number } };
}

const MODEL_NAMES = Object.keys(OFFICIAL_MODELS).filter((n) => n !== "inception");
const HAS = {
  var: "it has class_emb.weight, blocks.*",
  vae: "it has quantize.embedding.weight, encoder.*",
  inception: "it has Conv2d_1a_3x3.*, Mixed_*: the FID network",
};

/** A --vae/--var argument -> a file: a cached official name, an existing file or a URL. */
async function resolveFile(arg: string, flag: string): Promise<string> {
  const path = await resolveModel(arg); // an official name not downloaded yet: ModelNotCachedError naming `nextscale download`
  if (/^https?:\/\//i.test(path)) return path;
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    const hint = /[/\\]|\.[a-z]+$/i.test(arg) ? "" : `, nor the name of an official model (${MODEL_NAMES.join(", ")}; see nextscale download --list)`;
    throw new UsageError(`${flag} ${arg}: no such file${hint}`, 1);
  }
  if (isDir) throw new UsageError(`${flag} ${arg} is a folder; pass a checkpoint file (.pth or .safetensors)`, 1);
  return path;
}

/**
 * Resolve `--vae`/`--var` (names of cached official files, paths, URLs), and
 * open both files to check what they hold: a missing, unreadable or swapped
 * file is reported (naming the flag) before the backend starts or anything
 * loads. Only the files' indexes are read, not their tensors.
 */
export async function resolveSamplingModels(v: SamplingValues): Promise<ResolvedModels> {
  if (!v.vae && !v.var) {
    let d: Awaited<ReturnType<typeof defaultModel>>;
    try {
      d = await defaultModel();
    } catch (e) {
      if (e instanceof DefaultModelMissingError) throw new UsageError(`without --vae and --var, ${e.message.replace(/\(\{ vae, var \}\)/, "(--vae F --var F)")}`, 1);
      throw e;
    }
    const files = await resolveSamplingModels({ vae: d.files.vae, var: d.files.var });
    return { ...files, defaultModel: { name: d.name, classNames: d.classNames, sampling: d.sampling } };
  }
  if (!v.vae || !v.var) throw new UsageError(BOTH_OR_NEITHER, 1);
  const vae = await resolveFile(v.vae, "--vae");
  const varFile = await resolveFile(v.var, "--var");
  const shown = (arg: string, path: string) => (arg === path ? arg : `${arg} (${path})`);
  const [a, b] = [shown(v.vae, vae), shown(v.var, varFile)];
  const stores: TensorStore[] = [];
  try {
    const vaeStore = await openCheckpoint(vae);
    stores.push(vaeStore);
    const varStore = await openCheckpoint(varFile);
    stores.push(varStore);
    const kv = inspectCheckpoint(vaeStore).kind;
    const kr = inspectCheckpoint(varStore).kind;
    if (kv === "var" && kr === "vae") {
      throw new UsageError(
        `--vae and --var are swapped: ${a} looks like a VAR checkpoint (${HAS.var}) and ${b} looks like a VQ-VAE checkpoint (${HAS.vae}): pass --vae ${v.var} --var ${v.vae}`,
        1,
      );
    }
    if (kv === "var") throw new UsageError(`--vae ${a} looks like a VAR checkpoint (${HAS.var}): pass it as --var, and the VQ-VAE (vae_ch160v4096z32.pth, or the name vae) as --vae`, 1);
    if (kr === "vae") throw new UsageError(`--var ${b} looks like a VQ-VAE checkpoint (${HAS.vae}): pass it as --vae, and the VAR (var_d16.pth …, or a name such as var-d16) as --var`, 1);
    const other = (store: TensorStore, want: "VAR" | "VQ-VAE", keys: string) => {
      const ks = store.keys();
      return `is not a ${want} checkpoint (a ${want} has ${keys}; this file has ${ks.length} tensors, e.g. ${ks.slice(0, 3).join(", ") || "none"})`;
    };
    if (kv !== "vae") throw new UsageError(`--vae ${a} ${kv === "inception" ? `looks like an Inception checkpoint (${HAS.inception}), not a VQ-VAE` : other(vaeStore, "VQ-VAE", "quantize.embedding.weight and encoder.*")}`, 1);
    if (kr !== "var") throw new UsageError(`--var ${b} ${kr === "inception" ? `looks like an Inception checkpoint (${HAS.inception}), not a VAR` : other(varStore, "VAR", "class_emb.weight and blocks.*")}`, 1);
    return { vae, var: varFile, numClasses: varStore.info("class_emb.weight").shape[0] - 1 };
  } finally {
    await Promise.all(stores.map((st) => st.close()));
  }
}

/**
 * Resolve and check the models (unless `resolved` is given: see
 * `resolveSamplingModels`), start the backend (printing "backend: …"), and
 * load both checkpoints with a progress bar per file on stderr.
 */
export async function loadForSampling(v: SamplingValues, io: CommandIO, resolved?: ResolvedModels): Promise<LoadedModels> {
  const files = resolved ?? (await resolveSamplingModels(v));
  const backend = await chooseBackend(v.backend);
  io.err(`backend: ${backend}\n`);
  if (files.defaultModel) io.err(`model: ${files.defaultModel.name} (the bundled default; --vae F --var F for others)\n`);
  return loadModels({ vae: files.vae, var: files.var }, { onProgress: loadingBars(io) });
}

export const generateCommand: Command = {
  name: "generate",
  summary: "generate images scale by scale (classifier-free guidance, top-k/top-p, seeds) into a grid or a folder",
  usage: `usage: nextscale generate [--vae F --var F] [--class C …] [--n-per-class K] [--cfg 1.5] [--top-k 900]
                          [--top-p 0.96] [--seed S] [--smooth] [--backend B] (--out grid.png [--labels] [--zoom K] | --out-dir DIR)
                          [--shard K/N] [--start S]

Generates K images for each class (without --class: K images of classes drawn
from the seed, named on stderr). --out writes one PNG grid (a row per class);
--out-dir writes one PNG per image named <class>_<index>.png (index: the
image's number within its class), each batch as soon as it is done. The
output, the files and the classes are checked before anything loads; files
are written whole or not at all. Loading and generation progress (with ETA)
go to stderr.

The run's images are numbered 0 … total−1 (class by class, in --class order);
image i's class, file name and random stream depend only on i and the seed,
so a grid, a folder, any --batch, shards and resumed runs give the same
images, byte for byte.

${SAMPLING_USAGE}
  --n-per-class K    images per class (default 1)
  --out grid.png     one grid image (PNG; its folder must exist)
  --labels           draw each image's class under it in the grid (number, and
                     the name: ImageNet's, or the default model's)
  --zoom K           enlarge each image of the grid K times (nearest neighbour;
                     default 1), e.g. 3 for the default model's 28×28 images
  --out-dir DIR      one PNG per image
  --shard K/N        only the images i with i mod N = K (e.g. one task of a job
                     array of N); the N shards together write the whole run
  --start S          only the images i >= S (resume a run that stopped after
                     image S−1; with --shard, counted over the whole run)`,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        ...SAMPLING_OPTIONS,
        "n-per-class": { type: "string" },
        "out-dir": { type: "string" },
        shard: { type: "string" },
        start: { type: "string" },
        labels: { type: "boolean", default: false },
        zoom: { type: "string" },
      },
    });
    if (!values.out === !values["out-dir"]) throw new UsageError("pass exactly one of --out grid.png and --out-dir DIR");
    samplingSettings(values); // the flags' values checked first; the model's own defaults below
    const perClass = num(values["n-per-class"], "--n-per-class", 1, (x) => Number.isInteger(x) && x >= 1, "a positive integer");
    const shard = parseShard(values.shard);
    const start = num(values.start, "--start", 0, (x) => Number.isSafeInteger(x) && x >= 0, "a non-negative integer");
    if (values.out && (values.shard !== undefined || values.start !== undefined)) {
      throw new UsageError("--shard and --start write part of a run: use --out-dir DIR (a grid needs every image)");
    }
    if (values.labels && !values.out) throw new UsageError("--labels draws the classes into the grid: use it with --out grid.png");
    const zoom = num(values.zoom, "--zoom", 1, (x) => Number.isInteger(x) && x >= 1 && x <= 16, "an integer from 1 to 16");
    if (values.zoom !== undefined && !values.out) throw new UsageError("--zoom enlarges the grid's images: use it with --out grid.png (--out-dir writes each image at the model's size)");
    // before anything loads: the output, the model files, the classes
    const dir = values["out-dir"];
    if (values.out) checkOutputFile(values.out, "--out", [".png"]);
    if (dir && existsSync(dir) && !statSync(dir).isDirectory()) prepareOutputDir(dir, "--out-dir"); // throws: a file, not a folder
    const files = await resolveSamplingModels(values);
    const { numClasses } = files;
    const names = files.defaultModel?.classNames;
    const s = samplingSettings(values, files.defaultModel?.sampling);
    const classes = parseClasses(values.class, numClasses, names);
    const plan = imagePlan(classes, perClass, s.seed, numClasses);
    if (start > plan.total) throw new UsageError(`--start ${start} is past the run's last image (${plan.total} images: 0 … ${plan.total - 1})`);
    // this process's images: i >= start with i mod N = K, in order
    const mine: number[] = [];
    for (let i = start + ((shard.k - (start % shard.n) + shard.n) % shard.n); i < plan.total; i += shard.n) mine.push(i);
    if (dir) prepareOutputDir(dir, "--out-dir");
    const models = await loadForSampling(values, io, files);
    try {
      const { patchNums } = models.var.config;
      if (shard.n > 1 || start > 0) io.err(`images ${mine.length ? `${mine[0]} … ${mine.at(-1)}` : "none"}${shard.n > 1 ? ` (i mod ${shard.n} = ${shard.k})` : ""}: ${mine.length} of ${plan.total}\n`);
      if (!classes.length && mine.length) io.err(`${drawnClassesLine(mine.map((i) => plan.labels[i]), s.seed, numClasses, 8, names)}\n`);
      const L = patchNums.reduce((a, p) => a + p * p, 0);
      const bar = progressBar(io, "generate", "tok");
      const images: RgbImage[] = [];
      let done = 0;
      const batchSize = s.batch ?? defaultBatch(models.var.config);
      for (let o = 0; o < mine.length; o += batchSize) {
        const batch = mine.slice(o, o + batchSize);
        const res = await generate(models.vae, models.var, {
          ...s,
          labels: batch.map((i) => plan.labels[i]),
          imageIndices: batch,
          onProgress: (p) => bar({ done: done + p.tokensDone * batch.length, total: L * mine.length }),
        });
        done += L * batch.length;
        const rgb = await toRgbImages(res.images);
        tf.dispose([res.images, res.fHat, ...res.indices]);
        if (!dir) images.push(...rgb.map((im) => zoomImage(im, zoom)));
        else for (const [b, im] of rgb.entries()) writeFileAtomic(join(dir, plan.names[batch[b]]), encodePng(im)); // batch by batch: a stopped run resumes with --start
      }
      if (values.out) {
        const labels = values.labels ? mine.map((i) => classText(plan.labels[i], numClasses, names)) : undefined;
        writeFileAtomic(values.out, encodePng(imageGrid(images, classes.length ? perClass : Math.min(images.length, 8), 2, { labels })));
        io.err(`wrote ${values.out} (${images.length} image${images.length === 1 ? "" : "s"})\n`);
      } else {
        io.err(`wrote ${mine.length} image${mine.length === 1 ? "" : "s"} to ${dir}\n`);
      }
    } finally {
      models.dispose();
    }
    return 0;
  },
};
