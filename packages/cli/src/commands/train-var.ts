/**
 * `nextscale train var`: stage 2, a class-conditional VAR on the token maps
 * of a frozen VQ-VAE (`train vqvae`'s vqvae.safetensors, or the official
 * vae_ch160v4096z32.pth), with @nextscale/train's `VarTrainer` and the
 * official recipe (AdamW β 0.9/0.95, wd 0.05 on matrices, lr 1e-4·batch/256,
 * warm-up epochs/50 from 0.005×, lin0 to 0.01×, clip 2.0, class dropout 0.1,
 * drop path 0.1·depth/24). The width rule of the official ladder: width =
 * 64·depth, heads = depth.
 *
 * The run folder (`--out`): the dataset's token maps, encoded once
 * (`tokens-<key>.safetensors`); `ckpt-<step>.safetensors`; `metrics.jsonl`;
 * `samples/step-<step>.png` (one image per class, the same seed each time);
 * at the end `var.pth` (the official state dict: `nextscale generate --vae
 * V --var DIR/var.pth`, and the official `VAR.load_state_dict`) and
 * `loss.png`. Run the same command again to resume.
 */
import { join } from "node:path";
import { backendInfo } from "@nextscale/backends";
import { encodePng, formatBytes, imageGrid, Random } from "@nextscale/core";
import { generate } from "@nextscale/sampler";
import { loadVqvae, type VQVAE } from "@nextscale/tokenizer";
import { cachedTokenMaps, latestCheckpoint, peakRssBytes, VarTrainer, type VarTrainerOptions, writeOfficialVarPth } from "@nextscale/train";
import { initWeights, type VarConfig, VarTransformer, varConfig } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { int, ints, num } from "../flags.js";
import { enlarge, fromSignedImages } from "../images.js";
import { writeFileAtomic } from "../output.js";
import { progressBar } from "../progress.js";
import { interruptSignal, openRunFolder, pruneCheckpoints, trainProgress } from "../train-run.js";
import { writeLossPlot } from "./train-plot.js";
import { commonTrainSettings, openTrainData, resumeError, TRAIN_DATA_OPTIONS, TRAIN_DATA_USAGE } from "./train-vqvae.js";
import { type CommandIO, UsageError } from "./types.js";

export const trainVarUsage = `usage: nextscale train var --data PATH --vqvae F --out DIR [options]

Stage 2: train a class-conditional VAR on the token maps of a frozen VQ-VAE, with
the official recipe. Writes DIR/var.pth (the official state dict) at the end.

data and run:
${TRAIN_DATA_USAGE}
  --vqvae F            the frozen VQ-VAE (train vqvae's DIR/vqvae.safetensors, or an official .pth)
  --patch-nums 1,2,…   its token-map sides (default: from the file, else the 10 of 256 px)

model (the official ladder: width = 64·depth, heads = depth):
  --depth D            transformer blocks (default 4)
  --width C            embedding width (default 64·depth)
  --heads H            attention heads (default depth)

optimisation (the official train.py defaults):
  --epochs E           passes over the dataset (default 10)
  --blr LR             base lr per 256 images (default 1e-4: lr = blr·batch/256)
  --lr LR              the peak lr itself (overrides --blr)
  --wd W               weight decay of the matrices (default 0.05)
  --warmup-epochs E    linear warm-up (default epochs/50)
  --cond-drop P        class dropout (default 0.1)
  --drop-path P        drop path of the last block (default 0.1·depth/24)
  --ls E               label smoothing (default 0)
  --recompute          recompute each block in the backward pass (activation checkpointing:
                       far less memory, about a third more time; the same steps)

samples:
  --sample-cfg G       guidance of the sample grids (default 1.5)
  --sample-top-k K     (default 0: all tokens)`;

export async function runTrainVar(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...TRAIN_DATA_OPTIONS,
      vqvae: { type: "string" },
      "patch-nums": { type: "string" },
      depth: { type: "string" },
      width: { type: "string" },
      heads: { type: "string" },
      epochs: { type: "string" },
      blr: { type: "string" },
      lr: { type: "string" },
      wd: { type: "string" },
      "warmup-epochs": { type: "string" },
      "cond-drop": { type: "string" },
      "drop-path": { type: "string" },
      ls: { type: "string" },
      "sample-cfg": { type: "string" },
      "sample-top-k": { type: "string" },
      recompute: { type: "boolean", default: false },
    },
  });
  const common = commonTrainSettings(v);
  if (!v.vqvae) throw new UsageError("--vqvae is required (the frozen stage-1 VQ-VAE: train vqvae's DIR/vqvae.safetensors)");
  const depth = int(v.depth, "--depth", 4);
  const width = int(v.width, "--width", 64 * depth);
  const heads = int(v.heads, "--heads", depth);
  if (width % heads) throw new UsageError(`--width ${width} is not a multiple of --heads ${heads}`);
  const epochs = int(v.epochs, "--epochs", 10);
  const sampleCfg = num(v["sample-cfg"], "--sample-cfg", 1.5, (x) => x >= 0, "a non-negative number");
  const sampleTopK = int(v["sample-top-k"], "--sample-top-k", 0, 0);
  const patchFlag = v["patch-nums"] === undefined ? undefined : ints(v["patch-nums"], "--patch-nums", []);
  const data = await openTrainData(v);
  const run = await openRunFolder(common.out, io);
  await chooseBackend(v.backend);
  const info = backendInfo();
  io.err(`backend: ${info.name} (${info.device})\n`);

  let vqvae: VQVAE;
  try {
    vqvae = await loadVqvae(v.vqvae, { patchNums: patchFlag });
  } catch (e) {
    throw new UsageError(`--vqvae ${v.vqvae}: ${(e as Error).message}`, 1);
  }
  const { patchNums } = vqvae.config;
  const image = vqvae.imageSize();
  io.err(`data: ${v.data}: ${data.length} images, ${data.numClasses} classes, encoded at ${image}×${image} by ${v.vqvae} (patch_nums ${patchNums})\n`);
  const encodeBar = progressBar(io, "encoding token maps", "img", { minInterval: 5 });
  const tokens = await cachedTokenMaps({ vqvae, vqvaeFile: v.vqvae, dataset: data, dir: run.dir, onProgress: (done, total) => encodeBar({ done, total }) });
  io.err(tokens.fromCache ? `token maps: ${tokens.path} (cached)\n` : `token maps: ${tokens.count} images encoded into ${tokens.path}\n`);

  let config: VarConfig;
  try {
    config = varConfig({ depth, embedDim: width, numHeads: heads, numClasses: data.numClasses, patchNums, vocabSize: vqvae.config.vocabSize, cvae: vqvae.config.zChannels });
  } catch (e) {
    throw new UsageError(`the VAR configuration is refused: ${(e as Error).message}`);
  }
  const itersPerEpoch = Math.ceil(tokens.count / common.batch);
  const options: VarTrainerOptions = {
    epochs,
    itersPerEpoch,
    batchSize: common.batch,
    baseLr: num(v.blr, "--blr", 1e-4, (x) => x > 0, "a positive number"),
    peakLr: v.lr === undefined ? undefined : num(v.lr, "--lr", 0, (x) => x > 0, "a positive number"),
    wd: num(v.wd, "--wd", 0.05, (x) => x >= 0, "a non-negative number"),
    warmupEpochs: num(v["warmup-epochs"], "--warmup-epochs", 0, (x) => x >= 0, "a non-negative number"),
    condDropRate: num(v["cond-drop"], "--cond-drop", 0.1, (x) => x >= 0 && x < 1, "a number in [0, 1)"),
    dropPathRate: v["drop-path"] === undefined ? undefined : num(v["drop-path"], "--drop-path", 0, (x) => x >= 0 && x < 1, "a number in [0, 1)"),
    labelSmoothing: num(v.ls, "--ls", 0, (x) => x >= 0 && x < 1, "a number in [0, 1)"),
    seed: common.seed,
    accum: common.accum,
    recompute: v.recompute,
  };
  let trainer: VarTrainer;
  const resumeFrom = run.resumeFrom ?? (await latestCheckpoint(run.dir));
  if (resumeFrom) {
    trainer = await VarTrainer.resume(resumeFrom, new VarTransformer(config), vqvae, options).catch(resumeError(common.out));
  } else {
    const model = new VarTransformer(config);
    initWeights(model, new Random(common.seed));
    trainer = new VarTrainer(model, vqvae, options);
  }
  const model = trainer.model;
  const total = trainer.totalSteps;
  if (resumeFrom) io.err(`resuming from ${resumeFrom} (step ${trainer.step} of ${total})\n`);
  io.err(
    `VAR: ${(model.numParameters() / 1e6).toFixed(2)}M parameters, depth ${depth}, width ${width}, heads ${heads}, ${data.numClasses} classes; ${epochs} epochs × ${itersPerEpoch} steps, peak lr ${trainer.options.peakLr.toExponential(2)}\n`,
  );
  run.log.write("start", { kind: "var", step: trainer.step, steps: total, resumedFrom: resumeFrom ?? null, backend: info.name, data: v.data, images: tokens.count, vqvae: v.vqvae, config: trainer.config() });

  const labels = Array.from({ length: data.numClasses }, (_, c) => c);
  const cols = Math.min(labels.length, 10);
  const names = data.classNames ? labels.map((c) => data.classNames![c]) : labels.map(String);
  const progress = trainProgress(io, "train var", total, trainer.step, common.batch);
  const stop = interruptSignal(io);
  let last: Awaited<ReturnType<VarTrainer["fit"]>>[number] | undefined;
  try {
    await trainer.fit(tokens, {
      checkpointDir: run.dir,
      checkpointEvery: common.checkpointEvery,
      signal: stop.signal,
      onStep: async (r) => {
        last = r;
        const step = r.step + 1;
        run.log.write("step", {
          step,
          loss: r.loss,
          meanLoss: r.meanLoss,
          tailLoss: r.tailLoss,
          accuracy: r.accuracy,
          tailAccuracy: r.tailAccuracy,
          scaleLoss: r.scaleLoss,
          scaleAccuracy: r.scaleAccuracy,
          gradNorm: r.gradNorm,
          lr: r.lr,
          weightDecay: r.weightDecay,
          peakTensorMB: r.peakTensorBytes / 1e6,
        });
        progress(step, { loss: r.meanLoss.toFixed(3), last: r.tailLoss.toFixed(3), acc: `${r.accuracy.toFixed(1)}%`, lr: r.lr.toExponential(1), mem: formatBytes(r.peakTensorBytes) });
        if (common.sampleEvery && (step % common.sampleEvery === 0 || step === total)) {
          const path = join(run.samplesDir, `step-${String(step).padStart(8, "0")}.png`);
          const res = await generate(vqvae, model, { labels, cfg: sampleCfg, topK: sampleTopK, topP: 0, seed: 0 });
          try {
            writeFileAtomic(path, encodePng(imageGrid(enlarge(await fromSignedImages(res.images)), cols, 2, { labels: names })));
          } finally {
            tf.dispose([res.images, res.fHat, ...res.indices]);
          }
          run.log.write("sample", { step, path });
        }
      },
      onCheckpoint: (path, step) => {
        run.log.write("checkpoint", { step, path });
        pruneCheckpoints(run.dir, common.keep);
      },
    });
  } finally {
    stop.release();
  }
  const step = trainer.step;
  const plot = writeLossPlot(run.log.path, join(run.dir, "loss.png"));
  if (stop.signal.aborted && step < total) {
    run.log.write("end", { step, stopped: true });
    io.err(`stopped at step ${step} of ${total}; checkpoint in ${run.dir}; run the same command to resume\n`);
    return 130;
  }
  const out = join(run.dir, "var.pth");
  writeFileAtomic(out, await writeOfficialVarPth(model));
  run.log.write("end", { step, model: out, meanLoss: last?.meanLoss ?? null, peakRssMB: peakRssBytes() / 1e6 });
  io.out(`${out}\n`);
  io.err(
    `done: ${step} steps${last ? `, loss ${last.meanLoss.toFixed(3)} (last scale ${last.tailLoss.toFixed(3)}), token accuracy ${last.accuracy.toFixed(1)}%` : ""}; peak RSS ${formatBytes(peakRssBytes())}; ${plot ? `loss curves ${plot}` : "no loss curve"}\n` +
      `generate with: nextscale generate --vae ${v.vqvae} --var ${out} --class 0 --out out.png\n`,
  );
  model.dispose();
  vqvae.dispose();
  return 0;
}
