/**
 * `nextscale bench --train var|vqvae`: time full training steps (forward,
 * backward, clip_grad_norm_(2.0), AdamW) of a small VAR or VQ-VAE on a
 * fixed random batch, after a warm-up, and print one JSON object (or a
 * summary): images_per_second, step_ms (the median step), peak_rss_mb, the
 * machine and the backend. tools/bench/train_step_torch.py times the same
 * step in PyTorch and tools/bench/train-vs-torch.mjs runs both side by side.
 *
 * AdamW is @nextscale/train's (torch's update, the official param groups
 * with weight decay 0.05 on the decayed group, lr 1e-4), as the PyTorch
 * script's torch.optim.AdamW.
 */
import { cpus, loadavg, platform, release } from "node:os";
import { backendInfo } from "@nextscale/backends";
import { Random } from "@nextscale/core";
import { type VQVAE, vqvaeConfig } from "@nextscale/tokenizer";
import { AdamW, PeakMemory, paramGroups } from "@nextscale/train";
import { initWeights, VarTransformer, varConfig, varLoss } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { int, ints } from "../flags.js";
import { randomVqvae } from "./bench.js";
import { type CommandIO, UsageError } from "./types.js";

interface TrainSetup {
  step(): Promise<number>;
  parameters: number;
  config: Record<string, unknown>;
  dispose(): void;
}

function optimizerFor(model: VarTransformer | VQVAE): AdamW {
  const groups = paramGroups(model, { lr: 1e-4 });
  for (const g of groups) g.weightDecay = g.name === "D" ? 0.05 : 0;
  return new AdamW(groups, { betas: [0.9, 0.95], eps: 1e-8, gradClip: 2.0 });
}

/** One step: the loss's gradients by variable, AdamW's update; resolves to the loss once it is on the host. */
function stepper(opt: AdamW, loss: () => tf.Scalar): () => Promise<number> {
  const vars = opt.namedParameters().map(([, p]) => p.value);
  return async () => {
    const { value, grads } = tf.variableGrads(loss, vars);
    const norm = opt.step(grads);
    tf.dispose(grads);
    norm?.dispose();
    const [v] = await value.data();
    value.dispose();
    // the update is done once a parameter is readable
    await vars[vars.length - 1].data();
    return v;
  };
}

function setupVar(values: Record<string, string | boolean | undefined>, batch: number, rng: Random): TrainSetup {
  const depth = int(values.depth as string | undefined, "--depth", 4);
  const width = int(values.width as string | undefined, "--width", 256);
  if (width % 64) throw new UsageError(`--width must be a multiple of 64 (heads = width/64), got ${width}`);
  const vocab = int(values.vocab as string | undefined, "--vocab", 512, 2);
  const cvae = int(values.cvae as string | undefined, "--cvae", 16);
  const patchNums = ints(values["patch-nums"] as string | undefined, "--patch-nums", [1, 2, 3, 4]);
  const recompute = values.recompute === true;
  const model = new VarTransformer(varConfig({ depth, embedDim: width, numHeads: width / 64, vocabSize: vocab, cvae, patchNums }));
  initWeights(model, rng);
  const L = patchNums.reduce((s, p) => s + p * p, 0);
  const firstL = patchNums[0] ** 2;
  const labels = Array.from({ length: batch }, () => rng.int(1000));
  const xv = new Float32Array(batch * (L - firstL) * cvae);
  rng.fill(xv, (r) => r.normal(0, 1));
  const x = tf.tensor3d(xv, [batch, L - firstL, cvae]);
  const targets = Int32Array.from({ length: batch * L }, () => rng.int(vocab));
  const opt = optimizerFor(model);
  return {
    step: stepper(opt, () => varLoss(model.forward(labels, x, { recompute }), targets, { labelSmoothing: 0.1 })),
    parameters: opt.namedParameters().reduce((s, [, p]) => s + p.shape.reduce((a, b) => a * b, 1), 0),
    config: { depth, width, heads: width / 64, vocab, cvae, patch_nums: patchNums, batch, ...(recompute ? { recompute } : {}) },
    dispose: () => {
      opt.dispose();
      x.dispose();
      model.dispose();
    },
  };
}

function setupVqvae(values: Record<string, string | boolean | undefined>, batch: number, rng: Random): TrainSetup {
  const ch = int(values.ch as string | undefined, "--ch", 32);
  const chMult = ints(values["ch-mult"] as string | undefined, "--ch-mult", [1, 2, 2]);
  const image = int(values.image as string | undefined, "--image", 32);
  const vocab = int(values.vocab as string | undefined, "--vocab", 512, 2);
  const z = int(values.z as string | undefined, "--z", 16);
  const patchNums = ints(values["patch-nums"] as string | undefined, "--patch-nums", [1, 2, 3, 4, 5, 6, 8]);
  const down = 2 ** (chMult.length - 1);
  if (image % down || patchNums[patchNums.length - 1] !== image / down) {
    throw new UsageError(`--image ${image} with --ch-mult ${chMult} gives a ${image / down}-token latent side: the last of --patch-nums must be it`);
  }
  let vae: VQVAE;
  try {
    vae = randomVqvae(vqvaeConfig({ ch, chMult, vocabSize: vocab, zChannels: z, patchNums }), rng);
  } catch (e) {
    throw new UsageError(`the VQ-VAE configuration is refused: ${(e as Error).message}`);
  }
  const iv = new Float32Array(batch * image * image * 3);
  rng.fill(iv, (r) => r.random() * 2 - 1);
  const img = tf.tensor4d(iv, [batch, image, image, 3]);
  const opt = optimizerFor(vae);
  return {
    step: stepper(opt, () => vae.forwardTrain(img).loss),
    parameters: opt.namedParameters().reduce((s, [, p]) => s + p.shape.reduce((a, b) => a * b, 1), 0),
    config: { ch, ch_mult: chMult, image, vocab, z, patch_nums: patchNums, batch },
    dispose: () => {
      opt.dispose();
      img.dispose();
      vae.dispose();
    },
  };
}

export async function runTrainBench(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      train: { type: "string" },
      depth: { type: "string" },
      width: { type: "string" },
      vocab: { type: "string" },
      cvae: { type: "string" },
      ch: { type: "string" },
      "ch-mult": { type: "string" },
      image: { type: "string" },
      z: { type: "string" },
      "patch-nums": { type: "string" },
      batch: { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string" },
      seed: { type: "string" },
      backend: { type: "string" },
      json: { type: "boolean", default: false },
      recompute: { type: "boolean" },
    },
  });
  const what = values.train;
  if (what !== "var" && what !== "vqvae") throw new UsageError(`--train must be var or vqvae (got "${what}")`);
  const foreign = what === "var" ? ["ch", "ch-mult", "image", "z"] : ["depth", "width", "cvae", "recompute"];
  for (const f of foreign) if (values[f as keyof typeof values] !== undefined) throw new UsageError(`--${f} is not an option of --train ${what}`);
  const batch = int(values.batch, "--batch", 32);
  const steps = int(values.steps, "--steps", 5);
  const warmup = int(values.warmup, "--warmup", 2, 0);
  const seed = int(values.seed, "--seed", 0, 0);
  const loadStart = [...loadavg()];
  await chooseBackend(values.backend);
  const info = backendInfo();
  io.err(`backend: ${info.name} (${info.device})\n`);
  const rng = new Random(seed);
  const setup = what === "var" ? setupVar(values, batch, rng) : setupVqvae(values, batch, rng);
  try {
    let loss = Number.NaN;
    for (let i = 0; i < warmup; i++) {
      io.err(`warm-up step ${i + 1}/${warmup} …\n`);
      loss = await setup.step();
    }
    const times: number[] = [];
    const memory = new PeakMemory();
    memory.start();
    for (let i = 0; i < steps; i++) {
      io.err(`step ${i + 1}/${steps} …\n`);
      const t0 = performance.now();
      loss = await setup.step();
      times.push(performance.now() - t0);
    }
    const peakTensorMb = memory.peakBytes / 2 ** 20;
    const sorted = [...times].sort((a, b) => a - b);
    const stepMs = sorted[Math.floor(sorted.length / 2)];
    const cpu = cpus();
    const result = {
      train: what,
      config: setup.config,
      images_per_second: batch / (stepMs / 1000),
      step_ms: stepMs,
      step_ms_all: times,
      loss,
      peak_rss_mb: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
      peak_tensor_mb: peakTensorMb,
      parameters: setup.parameters,
      warmup_steps: warmup,
      machine: {
        cpu: cpu[0]?.model ?? "unknown",
        cores: cpu.length,
        platform: `${platform()} ${release()}`,
        load_average_before: loadStart.map((x) => Math.round(x * 100) / 100),
      },
      backend: info,
      optimizer: "AdamW of @nextscale/train (torch's update) + clip_grad_norm_(2.0)",
    };
    if (values.json) io.out(`${JSON.stringify(result)}\n`);
    else {
      io.out(`train ${what} ${JSON.stringify(setup.config)} on ${info.name} (${info.device}), ${result.parameters} parameters\n`);
      io.out(`step ${stepMs.toFixed(1)} ms (median of ${steps}), ${result.images_per_second.toFixed(2)} images/s, peak RSS ${result.peak_rss_mb.toFixed(0)} MB, peak tensor memory ${peakTensorMb.toFixed(0)} MB\n`);
    }
  } finally {
    setup.dispose();
  }
  return 0;
}
