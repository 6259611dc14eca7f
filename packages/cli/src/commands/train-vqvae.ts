/**
 * `nextscale train vqvae`: stage 1, the multi-scale VQ-VAE, on an IDX file,
 * an IDX folder or a class-folder dataset, with @nextscale/train's
 * `VqvaeTrainer` / `trainVqvae` (reconstruction + vq_loss, codebook usage,
 * dead-code restarts, AdamW, clipping, exact resume; with --gan the VQGAN
 * patch discriminator).
 *
 * The run folder (`--out`): `ckpt-<step>.safetensors` every
 * `--checkpoint-every` steps, at the end and on Ctrl-C; `metrics.jsonl`;
 * `samples/recon-<step>.png` (a fixed set of images over their
 * reconstructions); at the end `vqvae.safetensors` (official keys,
 * patch_nums in the metadata: `nextscale reconstruct --vae` and
 * `train var --vqvae` take it as it is) and `loss.png`. Run the same command
 * again to resume.
 */
import { join } from "node:path";
import { backendInfo } from "@nextscale/backends";
import { encodePng, formatBytes, imageGrid, type RgbImage } from "@nextscale/core";
import { loadVqvae, VQVAE, type VqvaeConfig, vqvaeConfig } from "@nextscale/tokenizer";
import {
  CheckpointMismatchError,
  DataLoader,
  type GanOptions,
  type ImageDataset,
  initVqvaeForTraining,
  openImageDataset,
  patchOutputSide,
  peakRssBytes,
  takeFirst,
  trainVqvae,
  VqvaeTrainer,
  vqvaeSafetensors,
} from "@nextscale/train";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { int, ints, num } from "../flags.js";
import { enlarge, fromSignedImages } from "../images.js";
import { writeFileAtomic } from "../output.js";
import { interruptSignal, openRunFolder, pruneCheckpoints, trainProgress } from "../train-run.js";
import { writeLossPlot } from "./train-plot.js";
import { type CommandIO, UsageError } from "./types.js";

export const TRAIN_DATA_OPTIONS = {
  data: { type: "string" },
  labels: { type: "string" },
  split: { type: "string" },
  limit: { type: "string" },
  out: { type: "string" },
  batch: { type: "string" },
  accum: { type: "string" },
  seed: { type: "string" },
  hflip: { type: "boolean", default: false },
  "checkpoint-every": { type: "string" },
  "sample-every": { type: "string" },
  keep: { type: "string" },
  backend: { type: "string" },
} as const;

export const TRAIN_DATA_USAGE = `  --data PATH          an IDX images file (labels beside it), a folder of IDX files
                       (e.g. /usr/share/datasets/fashion-mnist; --split train|test), or a
                       folder with one subfolder of PNG/JPEG images per class
  --labels F           the labels file of an IDX images file (default: found beside it)
  --limit N            train on the first N images only
  --out DIR            the run folder (created; run the command again to resume from it)
  --batch N            images per step (default 32)
  --accum K            split each batch into K micro-batches (less memory, same step)
  --hflip              random horizontal flips (default off, as the official trainer)
  --seed S             data order, augmentation and init (default 0)
  --checkpoint-every N a checkpoint every N steps (default 500; also at the end and on Ctrl-C)
  --sample-every N     a sample grid every N steps in DIR/samples (default 500; 0 = never)
  --keep N             checkpoints kept (the newest N; default 3; 0 = all)
  --backend B          webgpu, native, wasm or cpu (default: NEXTSCALE_BACKEND, else native, then wasm)`;

type DataValues = { [K in keyof typeof TRAIN_DATA_OPTIONS]?: (typeof TRAIN_DATA_OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

/** The dataset named by --data (errors name the flag), cut to --limit. */
export async function openTrainData(v: DataValues): Promise<ImageDataset> {
  if (!v.data) throw new UsageError("--data is required (an IDX file or folder, or a folder of class folders)");
  if (v.split !== undefined && v.split !== "train" && v.split !== "test") throw new UsageError(`--split must be train or test (got "${v.split}")`);
  let ds: ImageDataset;
  try {
    ds = await openImageDataset(v.data, { split: v.split as "train" | "test" | undefined, labels: v.labels });
  } catch (e) {
    throw new UsageError(`--data ${v.data}: ${(e as Error).message}`, 1);
  }
  return v.limit === undefined ? ds : takeFirst(ds, int(v.limit, "--limit", 0));
}

export function commonTrainSettings(v: DataValues) {
  if (!v.out) throw new UsageError("--out is required (the run folder)");
  const batch = int(v.batch, "--batch", 32);
  const accum = int(v.accum, "--accum", 1);
  if (accum > batch) throw new UsageError(`--accum ${accum} is more than --batch ${batch}`);
  return {
    out: v.out,
    batch,
    accum,
    seed: int(v.seed, "--seed", 0, 0),
    checkpointEvery: int(v["checkpoint-every"], "--checkpoint-every", 500),
    sampleEvery: int(v["sample-every"], "--sample-every", 500, 0),
    keep: int(v.keep, "--keep", 3, 0),
  };
}

/** A checkpoint in --out made with other options: say so, and how to go on. */
export function resumeError(out: string) {
  return (e: unknown): never => {
    if (e instanceof CheckpointMismatchError) {
      throw new UsageError(`--out ${out} holds a run made with other options (${e.message}); pass another --out, or that run's options to resume it`, 1);
    }
    throw e;
  };
}

/** The VQ-VAE of --init, its errors naming the flag. */
async function loadInitVqvae(path: string): Promise<VQVAE> {
  try {
    return await loadVqvae(path);
  } catch (e) {
    throw new UsageError(`--init ${path}: ${(e as Error).message}`);
  }
}

/** The side of the first image (IDX files: all are one size). */
async function imageSide(ds: ImageDataset): Promise<number> {
  const im = await ds.image(0);
  return Math.min(im.width, im.height);
}

/** Default token-map sides for a latent side P: 1, 2, … P (up to 8), else the official pyramid's shape cut to P. */
export function defaultPatchNums(side: number): number[] {
  if (side <= 8) return Array.from({ length: side }, (_, i) => i + 1);
  const out = [1, 2, 3, 4, 5, 6, 8];
  while (out[out.length - 1] < side) out.push(Math.min(side, Math.round(out[out.length - 1] * 1.3)));
  return out;
}

export const trainVqvaeUsage = `usage: nextscale train vqvae --data PATH --out DIR [options]

Stage 1: train a multi-scale VQ-VAE (reconstruction + the quantizer's vq_loss,
codebook usage per scale, dead-code restarts; optionally a VQGAN discriminator).
Writes DIR/vqvae.safetensors at the end.

data and run:
${TRAIN_DATA_USAGE}

model:
  --image S            training resolution (default: the images' side rounded down to the
                       downsampling, e.g. 28 for Fashion-MNIST)
  --ch C               base channels (default 32)
  --ch-mult a,b,…      channel multipliers; 2^(n-1)× downsampling (default 1,2,2: 4×)
  --res-blocks N       residual blocks per level (default 1)
  --vocab V            codebook size (default 512)
  --z D                latent channels (default 16)
  --patch-nums 1,2,…   token-map sides, the last = image/downsampling (default 1, 2, … up to it)
  --no-attn            no self-attention blocks (default: in the last level and the middle)
  --init F             start from the weights of a trained VQ-VAE (its vqvae.safetensors or
                       an official .pth): the model is F's, so the model flags above are refused
  --decoder-only       with --init: train only the decoder (and post_quant_conv); the encoder
                       and codebook stay, so F's token maps, and a VAR trained on them, stay
                       valid (e.g. sharpen a model with --gan); no dead-code restarts

optimisation:
  --steps N            training steps (default 2000)
  --lr LR              learning rate, constant (default 2e-4)
  --l2 W, --l1 W       reconstruction weights (default 1 and 0)
  --vq-weight W        vq_loss weight (default 1; β = 0.25 inside, as the official quantizer)
  --prefix-scales N    also train what the first N scales alone decode to: mse of their
                       partial sums' decodings against the image, both at the scale's
                       resolution (default 0: off; at most the number of scales − 1;
                       not in the official recipe). Each costs one more decoder pass
  --prefix-weight W    that loss's weight (default 1)
  --dead-after N       restart codes unused for N steps (default 100)
  --no-restarts        no dead-code restarts

adversarial (VQGAN patch discriminator, hinge loss, adaptive weight; off by default):
  --gan                add the discriminator's term to the loss and train the discriminator
  --gan-start N        the step from which it applies (default 0; e.g. half of --steps, once
                       reconstructions are good)
  --gan-weight W       multiplies the adaptive weight (default 0.8)
  --gan-lr LR          the discriminator's learning rate (default: --lr)
  --gan-ndf C          the discriminator's first width (default 64)
  --gan-layers N       its stride-2 convs (default 3, or fewer where the images are small)`;

export async function runTrainVqvae(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...TRAIN_DATA_OPTIONS,
      image: { type: "string" },
      ch: { type: "string" },
      "ch-mult": { type: "string" },
      "res-blocks": { type: "string" },
      vocab: { type: "string" },
      z: { type: "string" },
      "patch-nums": { type: "string" },
      "no-attn": { type: "boolean", default: false },
      init: { type: "string" },
      "decoder-only": { type: "boolean", default: false },
      steps: { type: "string" },
      lr: { type: "string" },
      l2: { type: "string" },
      l1: { type: "string" },
      "vq-weight": { type: "string" },
      "prefix-scales": { type: "string" },
      "prefix-weight": { type: "string" },
      "dead-after": { type: "string" },
      "no-restarts": { type: "boolean", default: false },
      gan: { type: "boolean", default: false },
      "gan-start": { type: "string" },
      "gan-weight": { type: "string" },
      "gan-lr": { type: "string" },
      "gan-ndf": { type: "string" },
      "gan-layers": { type: "string" },
    },
  });
  const common = commonTrainSettings(v);
  const modelFlags = ["ch", "ch-mult", "res-blocks", "vocab", "z", "patch-nums", "no-attn"] as const;
  if (v.init) {
    const given = modelFlags.filter((f) => v[f] !== undefined && v[f] !== false);
    if (given.length) throw new UsageError(`${given.map((f) => `--${f}`).join(", ")} with --init: the model is the one in ${v.init}`);
  }
  if (v["decoder-only"] && !v.init) throw new UsageError("--decoder-only needs --init F: the decoder is fine-tuned on a trained VQ-VAE's tokens");
  if (v["decoder-only"] && v["no-restarts"]) throw new UsageError("--no-restarts with --decoder-only: restarts are already off (the codebook stays as it is)");
  if (v["decoder-only"] && v["dead-after"] !== undefined) throw new UsageError("--dead-after with --decoder-only: there are no restarts (the codebook stays as it is)");
  const backendChosen = v.init !== undefined;
  if (backendChosen) await chooseBackend(v.backend); // --init's weights load onto it
  const init = v.init ? await loadInitVqvae(v.init) : undefined;
  const chMult = init ? [...init.config.chMult] : ints(v["ch-mult"], "--ch-mult", [1, 2, 2]);
  const down = 2 ** (chMult.length - 1);
  const steps = int(v.steps, "--steps", 2000);
  const trainerOpts = {
    lr: num(v.lr, "--lr", 2e-4, (x) => x > 0, "a positive number"),
    l2Weight: num(v.l2, "--l2", 1, (x) => x >= 0, "a non-negative number"),
    l1Weight: num(v.l1, "--l1", 0, (x) => x >= 0, "a non-negative number"),
    vqWeight: num(v["vq-weight"], "--vq-weight", 1, (x) => x >= 0, "a non-negative number"),
    deadAfter: int(v["dead-after"], "--dead-after", 100),
    restarts: v["no-restarts"] ? false : undefined, // the trainer's default: on, off with decoderOnly
    decoderOnly: v["decoder-only"],
    seed: common.seed,
    accum: common.accum,
  };
  if (trainerOpts.l1Weight === 0 && trainerOpts.l2Weight === 0) throw new UsageError("--l1 and --l2 are both 0: nothing to reconstruct");
  const ganFlags = ["gan-start", "gan-weight", "gan-lr", "gan-ndf", "gan-layers"] as const;
  const stray = ganFlags.filter((f) => v[f] !== undefined);
  if (!v.gan && stray.length) throw new UsageError(`${stray.map((f) => `--${f}`).join(", ")} without --gan (the discriminator is off by default)`);
  const data = await openTrainData(v);
  const side = await imageSide(data);
  const image = int(v.image, "--image", Math.floor(side / down) * down);
  if (image % down) throw new UsageError(`--image ${image} is not a multiple of the downsampling ${down} (--ch-mult ${chMult})`);
  const latent = image / down;
  const patchNums = init ? [...init.config.patchNums] : ints(v["patch-nums"], "--patch-nums", defaultPatchNums(latent));
  if (patchNums.some((p, i) => i > 0 && p <= patchNums[i - 1]) || patchNums[patchNums.length - 1] !== latent) {
    throw new UsageError(`--patch-nums ${patchNums} must increase and end at the latent side ${latent} (--image ${image} / ${down})`);
  }
  const prefixScales = int(v["prefix-scales"], "--prefix-scales", 0, 0);
  if (prefixScales > patchNums.length - 1) throw new UsageError(`--prefix-scales ${prefixScales}: this VQ-VAE has ${patchNums.length} scales, so at most ${patchNums.length - 1} (the scales before the last)`);
  if (v["prefix-weight"] !== undefined && prefixScales === 0) throw new UsageError("--prefix-weight without --prefix-scales N (the prefix loss is off by default)");
  const prefixWeight = num(v["prefix-weight"], "--prefix-weight", 1, (x) => x >= 0, "a non-negative number");
  let config: VqvaeConfig;
  if (init) config = init.config;
  else {
    try {
      config = vqvaeConfig({
        ch: int(v.ch, "--ch", 32),
        chMult,
        numResBlocks: int(v["res-blocks"], "--res-blocks", 1),
        vocabSize: int(v.vocab, "--vocab", 512, 2),
        zChannels: int(v.z, "--z", 16),
        patchNums,
        usingSa: !v["no-attn"],
        usingMidSa: !v["no-attn"],
      });
    } catch (e) {
      throw new UsageError(`the VQ-VAE configuration is refused: ${(e as Error).message}`);
    }
  }
  let gan: GanOptions | undefined;
  if (v.gan) {
    const fits = [3, 2, 1].find((l) => patchOutputSide(image, l) >= 1);
    if (!fits) throw new UsageError(`--gan: images of ${image}×${image} are too small for a patch discriminator`);
    gan = {
      start: int(v["gan-start"], "--gan-start", 0, 0),
      weight: num(v["gan-weight"], "--gan-weight", 0.8, (x) => x >= 0, "a non-negative number"),
      lr: num(v["gan-lr"], "--gan-lr", trainerOpts.lr, (x) => x > 0, "a positive number"),
      ndf: int(v["gan-ndf"], "--gan-ndf", 64),
      layers: int(v["gan-layers"], "--gan-layers", fits),
    };
    if (patchOutputSide(image, gan.layers!) < 1) throw new UsageError(`--gan-layers ${gan.layers}: images of ${image}×${image} allow at most ${fits}`);
  }
  const run = await openRunFolder(common.out, io);
  if (!backendChosen) await chooseBackend(v.backend);
  const info = backendInfo();
  io.err(`backend: ${info.name} (${info.device})\n`);
  io.err(`data: ${v.data}: ${data.length} images, ${data.numClasses} classes, trained at ${image}×${image} (official train transform${v.hflip ? ", flips" : ""})\n`);

  const vae = init ?? new VQVAE(config);
  if (!init) initVqvaeForTraining(vae, common.seed);
  else io.err(`initialised from ${v.init}${v["decoder-only"] ? " (decoder only: the encoder and codebook stay)" : ""}\n`);
  const trainer = new VqvaeTrainer(vae, { ...trainerOpts, gan, prefixScales, prefixWeight });
  if (run.resumeFrom) {
    await trainer.load(run.resumeFrom).catch(resumeError(common.out));
    io.err(`resuming from ${run.resumeFrom} (step ${trainer.step} of ${steps})\n`);
  }
  io.err(`VQ-VAE: ${(vae.numParameters() / 1e6).toFixed(2)}M parameters, ch ${config.ch}, ch_mult ${chMult}, V ${config.vocabSize}, Cvae ${config.zChannels}, patch_nums ${patchNums}\n`);
  if (trainer.gan && trainer.discriminator) {
    const g = trainer.gan;
    io.err(`discriminator: ${(trainer.discriminator.numParameters() / 1e6).toFixed(2)}M parameters, ndf ${g.ndf}, ${g.layers} layers; from step ${g.start}, weight ${g.weight}, lr ${g.lr}\n`);
  }
  run.log.write("start", { kind: "vqvae", step: trainer.step, steps, resumedFrom: run.resumeFrom ?? null, backend: info.name, data: v.data, images: data.length, config: { ...config }, trainer: trainer.config() });

  const loader = new DataLoader(data, { batchSize: common.batch, size: image, seed: common.seed, hflip: v.hflip });
  const fixed = await sampleImages(data, image, 8);
  const progress = trainProgress(io, "train vqvae", steps, trainer.step, common.batch);
  const stop = interruptSignal(io);
  let last: Awaited<ReturnType<typeof trainVqvae>>;
  try {
    last = await trainVqvae(trainer, loader, {
      steps,
      checkpointDir: run.dir,
      checkpointEvery: common.checkpointEvery,
      signal: stop.signal,
      onStep: async (m) => {
        const ppl = m.usage.map((u) => u.perplexity);
        run.log.write("step", {
          step: m.step,
          loss: m.loss,
          recL2: m.recL2,
          recL1: m.recL1,
          vqLoss: m.vqLoss,
          ...(m.prefixL2 !== undefined ? { prefixL2: m.prefixL2 } : {}),
          gradNorm: m.gradNorm,
          lr: m.lr,
          perplexity: ppl,
          unused: m.usage.map((u) => u.unused),
          restarted: m.restarted,
          ms: m.ms,
          imagesPerSecond: (common.batch * 1000) / m.ms,
          peakTensorMB: m.peakTensorBytes / 1e6,
          ...(m.gan ?? {}),
        });
        progress(m.step, {
          loss: m.loss.toFixed(4),
          mse: m.recL2.toFixed(4),
          vq: m.vqLoss.toFixed(4),
          ...(m.prefixL2 !== undefined ? { prefix: m.prefixL2.toFixed(4) } : {}),
          ppl: `${Math.round(ppl[0])}…${Math.round(ppl[ppl.length - 1])}`,
          lr: m.lr.toExponential(1),
          ...(m.gan ? { d: m.gan.dLoss.toFixed(3) } : {}),
          mem: formatBytes(m.peakTensorBytes),
        });
        if (common.sampleEvery && (m.step % common.sampleEvery === 0 || m.step === steps)) {
          const path = join(run.samplesDir, `recon-${String(m.step).padStart(8, "0")}.png`);
          await writeReconstructions(vae, fixed, path);
          run.log.write("sample", { step: m.step, path });
        }
      },
      onCheckpoint: (path, step) => {
        run.log.write("checkpoint", { step, path });
        pruneCheckpoints(run.dir, common.keep);
      },
    });
  } finally {
    stop.release();
    fixed.dispose();
  }
  const stepNow = trainer.step;
  const plot = writeLossPlot(run.log.path, join(run.dir, "loss.png"));
  if (stop.signal.aborted && stepNow < steps) {
    run.log.write("end", { step: stepNow, stopped: true });
    io.err(`stopped at step ${stepNow} of ${steps}; checkpoint in ${run.dir}; run the same command to resume\n`);
    return 130;
  }
  const out = join(run.dir, "vqvae.safetensors");
  writeFileAtomic(out, await vqvaeSafetensors(vae));
  const usage = last?.usage ?? trainer.codebook.usage();
  run.log.write("end", { step: stepNow, model: out, loss: last?.loss ?? null, peakRssMB: peakRssBytes() / 1e6 });
  io.out(`${out}\n`);
  io.err(
    `done: ${stepNow} steps${last ? `, loss ${last.loss.toFixed(4)} (mse ${last.recL2.toFixed(4)}, vq ${last.vqLoss.toFixed(4)})` : ""}; codes in use per scale ${usage.map((u) => config.vocabSize - u.unused).join(" ")} of ${config.vocabSize}; peak RSS ${formatBytes(peakRssBytes())}; ${plot ? `loss curves ${plot}` : "no loss curve (no steps logged)"}\n`,
  );
  vae.dispose();
  trainer.discriminator?.dispose();
  return 0;
}

/** `count` images of the dataset (spread over it) as the validation transform gives them: (count, S, S, 3) in [−1, 1]. */
async function sampleImages(ds: ImageDataset, size: number, count: number): Promise<tf.Tensor4D> {
  const n = Math.min(count, ds.length);
  const picks = Array.from({ length: n }, (_, i) => Math.floor((i * ds.length) / n));
  const loader = new DataLoader({ ...ds, length: n, label: (i) => ds.label(picks[i]), image: (i) => ds.image(picks[i]), itemName: (i) => ds.itemName(picks[i]), numClasses: ds.numClasses }, { batchSize: n, size, transform: "center", shuffle: false, last: "partial", prefetch: 0 });
  for await (const b of loader.epoch(0)) {
    const { images, labels } = DataLoader.toTensors(b);
    labels.dispose();
    return images;
  }
  throw new Error("no images");
}

/** The fixed images (top row) over their reconstructions (bottom row), as a PNG. */
async function writeReconstructions(vae: VQVAE, images: tf.Tensor4D, path: string): Promise<void> {
  const rec = tf.tidy(() => tf.clipByValue(vae.reconstruct(images), -1, 1) as tf.Tensor4D);
  try {
    const top: RgbImage[] = await fromSignedImages(images);
    const bottom: RgbImage[] = await fromSignedImages(rec);
    writeFileAtomic(path, encodePng(imageGrid(enlarge([...top, ...bottom]), top.length, 2)));
  } finally {
    rec.dispose();
  }
}
