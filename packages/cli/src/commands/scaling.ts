/**
 * `nextscale scaling`: scaling laws on the user's own data (the VAR paper
 * §4). Trains one VAR per depth with the official width rule (width
 * 64·depth, heads = depth) on the same cached token maps of a frozen VQ-VAE,
 * the same schedule and a fixed budget per model (images/tokens seen, or
 * FLOPs), evaluates each on a held-out split, fits L = (β·X)^α against
 * parameters and compute, predicts the next size up, and plots it all —
 * @nextscale/train's `runScalingLadder`, `analyzeScaling`, `scalingPlotFiles`.
 *
 * The folder (`--out`): the token maps (`tokens-<key>.safetensors`, train
 * and test), `runs/d<depth>/` (metrics.jsonl, the newest checkpoint while
 * training, run.json when done), `scaling.json` (every run and every fit),
 * `loss-vs-params.{png,svg}`, `loss-vs-compute.{png,svg}`. Run the same
 * command again to resume: finished runs are read, the stopped one continues.
 */
import { join } from "node:path";
import { backendFromEnv, backendInfo, initBackend } from "@nextscale/backends";
import { loadVqvae, type VQVAE } from "@nextscale/tokenizer";
import {
  analyzeScaling,
  cachedTokenMaps,
  type ImageDataset,
  type LadderBudget,
  type LadderRun,
  ladderParams,
  lawText,
  openImageDataset,
  runScalingLadder,
  SCALING_METRICS,
  scalingPlotFiles,
  takeFirst,
} from "@nextscale/train";
import { parseArgs } from "../args.js";
import { DEFAULT_BACKENDS } from "../backend.js";
import { int, ints, num } from "../flags.js";
import { prepareOutputDir, writeFileAtomic } from "../output.js";
import { progressBar } from "../progress.js";
import { interruptSignal, trainProgress } from "../train-run.js";
import { type Command, type CommandIO, UsageError } from "./types.js";

const usage = `usage: nextscale scaling --data PATH --vqvae F --depths 1,2,3 (--images N | --tokens N | --compute C) --out DIR [options]

Scaling laws: one VAR per depth (width 64·depth, heads = depth, as the official ladder) on the
same token maps, schedule and budget; held-out test loss and token error rate (all scales and the
last); power laws L = (β·X)^α against parameters and compute with Pearson r and a 95% interval of α;
the next size's predicted loss; plots. Run the same command again to resume.

data:
  --data PATH          IDX folder (its train split is trained on, its test split evaluated on),
                       IDX images file, or class folders
  --test PATH          the held-out images (default: --data's test split)
  --limit N            train on the first N images only
  --test-limit N       evaluate on the first N held-out images (default 1000)
  --vqvae F            the frozen VQ-VAE (train vqvae's vqvae.safetensors)

ladder:
  --depths D,D,…       the depths (at least 2), trained in this order
  --holdout-depth D    one more depth, trained after the ladder and left out of the fit: its measured
                       loss is compared with the law's prediction
  --images N           budget: images seen per model (the same for every size), or
  --tokens N           tokens seen per model (images · tokens per image), or
  --compute C          training FLOPs per model (6·N·T: bigger models see fewer images)
  --batch N            images per step (default 32)
  --lr LR              peak learning rate (default 8e-4; warm-up 5% of the run, then linear to 0.01×)
  --seed S             init, data order and dropout (default 0)
  --checkpoint-every N a checkpoint of the run in progress every N steps (default 50)
  --out DIR            the study folder (created; the same command resumes it)
  --title T            the plots' title (default "VAR scaling")
  --backend B          webgpu, native, wasm or cpu (default: NEXTSCALE_BACKEND, else native, then wasm)
  --threads N          wasm threads (default: the logical CPUs, at most 8)`;

async function openSplit(path: string, split: "train" | "test" | undefined, flag: string, limit?: number): Promise<ImageDataset> {
  let ds: ImageDataset;
  try {
    ds = await openImageDataset(path, { split });
  } catch (e) {
    throw new UsageError(`${flag} ${path}: ${(e as Error).message}`, 1);
  }
  return limit === undefined ? ds : takeFirst(ds, Math.min(limit, ds.length));
}

export async function runScaling(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      data: { type: "string" },
      test: { type: "string" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      vqvae: { type: "string" },
      depths: { type: "string" },
      "holdout-depth": { type: "string" },
      images: { type: "string" },
      tokens: { type: "string" },
      compute: { type: "string" },
      batch: { type: "string" },
      lr: { type: "string" },
      seed: { type: "string" },
      "checkpoint-every": { type: "string" },
      out: { type: "string" },
      title: { type: "string" },
      backend: { type: "string" },
      threads: { type: "string" },
    },
  });
  if (!v.data) throw new UsageError("--data is required (an IDX folder with train and test splits, or --test for the held-out images)");
  if (!v.vqvae) throw new UsageError("--vqvae is required (the frozen VQ-VAE whose token maps every model is trained on)");
  if (!v.out) throw new UsageError("--out is required (the study folder)");
  if (v.depths === undefined) throw new UsageError("--depths is required (e.g. --depths 1,2,3,4,5)");
  const depths = ints(v.depths, "--depths", []);
  if (depths.length < 2) throw new UsageError(`--depths needs at least 2 depths to fit a law (got ${depths.length})`);
  if (new Set(depths).size !== depths.length) throw new UsageError(`--depths has a depth twice (${v.depths})`);
  const holdout = v["holdout-depth"] === undefined ? undefined : int(v["holdout-depth"], "--holdout-depth", 0);
  if (holdout !== undefined && depths.includes(holdout)) throw new UsageError(`--holdout-depth ${holdout} is also in --depths: a held-out size is left out of the fit`);
  const budgets = (["images", "tokens", "compute"] as const).filter((k) => v[k] !== undefined);
  if (budgets.length !== 1) throw new UsageError(`give the budget per model with exactly one of --images, --tokens, --compute (got ${budgets.length ? budgets.map((b) => `--${b}`).join(", ") : "none"})`);
  const positive = (k: "images" | "tokens" | "compute") => num(v[k], `--${k}`, 0, (x) => x > 0, "a positive number (e.g. 2048 or 1e12)");
  const batchSize = int(v.batch, "--batch", 32);
  const lr = num(v.lr, "--lr", 8e-4, (x) => x > 0, "a positive number");
  const seed = int(v.seed, "--seed", 0, 0);
  const checkpointEvery = int(v["checkpoint-every"], "--checkpoint-every", 50);
  const threads = v.threads === undefined ? undefined : int(v.threads, "--threads", 1);
  const limit = v.limit === undefined ? undefined : int(v.limit, "--limit", 1);
  const testLimit = int(v["test-limit"], "--test-limit", 1000);

  const train = await openSplit(v.data, v.test ? undefined : "train", "--data", limit);
  const test = await openSplit(v.test ?? v.data, v.test ? undefined : "test", v.test ? "--test" : "--data", testLimit);
  prepareOutputDir(v.out, "--out");
  await initBackend(v.backend ? backendFromEnv(v.backend, []) : backendFromEnv(process.env.NEXTSCALE_BACKEND, DEFAULT_BACKENDS), { threads });
  const info = backendInfo();
  io.err(`backend: ${info.name} (${info.device})\n`);
  let vqvae: VQVAE;
  try {
    vqvae = await loadVqvae(v.vqvae);
  } catch (e) {
    throw new UsageError(`--vqvae ${v.vqvae}: ${(e as Error).message}`, 1);
  }
  const tokensPerImage = vqvae.config.patchNums.reduce((a, p) => a + p * p, 0);
  const budget: LadderBudget = budgets[0] === "compute" ? { flops: positive("compute") } : { images: budgets[0] === "images" ? positive("images") : positive("tokens") / tokensPerImage };
  const maps = [];
  for (const [name, ds] of [
    ["train", train],
    ["test", test],
  ] as const) {
    const bar = progressBar(io, `encoding ${name} token maps`, "img", { minInterval: 5 });
    const t = await cachedTokenMaps({ vqvae, vqvaeFile: v.vqvae, dataset: ds, dir: v.out, onProgress: (done, total) => bar({ done, total }) });
    io.err(`${name}: ${t.count} images, ${t.fromCache ? `token maps ${t.path} (cached)` : `encoded into ${t.path}`}\n`);
    maps.push(t);
  }
  const [trainMaps, testMaps] = maps;
  if (trainMaps.numClasses !== testMaps.numClasses) throw new UsageError(`the held-out images have ${testMaps.numClasses} classes, the training images ${trainMaps.numClasses}`, 1);
  const all = holdout === undefined ? depths : [...depths, holdout];
  const nextDepth = holdout ?? Math.max(...depths) + 1;
  io.err(`ladder: depths ${all.join(", ")}${holdout === undefined ? "" : ` (d${holdout} held out)`}; budget ${"flops" in budget ? `${budget.flops.toExponential(2)} FLOPs` : `${Math.round(budget.images)} images (${(budget.images * tokensPerImage).toExponential(2)} tokens)`} per model, batch ${batchSize}\n`);

  const stop = interruptSignal(io);
  let progress: ReturnType<typeof trainProgress> | undefined;
  let runs: LadderRun[];
  try {
    runs = await runScalingLadder({
      vqvae,
      train: trainMaps,
      test: testMaps,
      depths: all,
      budget,
      dir: join(v.out, "runs"),
      batchSize,
      lr,
      seed,
      checkpointEvery,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.kind === "start") {
          io.err(`d${e.depth}: ${(e.params / 1e6).toFixed(3)}M parameters, ${e.steps} steps${e.fromStep ? `, resuming at step ${e.fromStep}` : ""}\n`);
          progress = trainProgress(io, `d${e.depth}`, e.steps, e.fromStep, batchSize);
        } else if (e.kind === "step") progress?.(e.step, { loss: e.loss.toFixed(3) });
        else if (e.kind === "eval") io.err(`d${e.depth}: evaluating on ${testMaps.count} held-out images\n`);
        else {
          const t = e.run.test;
          io.err(`d${e.run.depth}: ${e.cached ? "done before: " : ""}test loss ${t.loss.toFixed(4)} (last scale ${t.tailLoss.toFixed(4)}), token error ${(100 * t.errorRate).toFixed(2)}% (last scale ${(100 * t.tailErrorRate).toFixed(2)}%), ${(e.run.flops / 1e12).toFixed(3)} TFLOPs, ${Math.round(e.run.trainSeconds)} s\n`);
        }
      },
    });
  } finally {
    stop.release();
  }
  const numClasses = trainMaps.numClasses;
  const fitted = runs.filter((r) => r.depth !== holdout);
  const stopped = runs.length < all.length;
  if (fitted.length < 2) {
    io.err(`stopped with ${runs.length} of ${all.length} runs finished; the same command resumes\n`);
    vqvae.dispose();
    return 130;
  }
  const analysis = analyzeScaling(runs, { holdout: holdout === undefined ? [] : [holdout], next: { depth: nextDepth, params: ladderParams(nextDepth, vqvae, numClasses) } });
  const command = `nextscale scaling ${args.join(" ")}`;
  const report = {
    format: "nextscale-scaling",
    version: 1,
    command,
    finished: !stopped,
    settings: { depths, holdoutDepth: holdout ?? null, budget, batchSize, lr, seed, tokensPerImage, trainImages: trainMaps.count, testImages: testMaps.count, backend: info.name, vqvae: v.vqvae },
    runs,
    ...analysis,
  };
  writeFileAtomic(join(v.out, "scaling.json"), `${JSON.stringify(report, null, 1)}\n`);
  for (const [name, bytes] of Object.entries(scalingPlotFiles(runs, analysis, v.title))) writeFileAtomic(join(v.out, name), bytes);
  const l = analysis.laws;
  const ci = (a: [number, number]) => `[${a[0].toFixed(3)}, ${a[1].toFixed(3)}]`;
  io.out(`${["depth", "params", "test loss", "last-scale loss", "token error %", "last-scale error %", "TFLOPs"].join("\t")}\n`);
  for (const r of runs) io.out(`${[`d${r.depth}${r.depth === holdout ? " (held out)" : ""}`, r.params, r.test.loss.toFixed(4), r.test.tailLoss.toFixed(4), (100 * r.test.errorRate).toFixed(2), (100 * r.test.tailErrorRate).toFixed(2), (r.flops / 1e12).toFixed(4)].join("\t")}\n`);
  for (const m of SCALING_METRICS) {
    io.out(`${m} vs N: ${lawText(l[m].params, "N")}, alpha 95% CI ${ci(l[m].params.alphaCI)}; vs C: ${lawText(l[m].compute, "C")}, alpha 95% CI ${ci(l[m].compute.alphaCI)}\n`);
  }
  for (const h of analysis.heldOut) io.out(`held-out d${h.depth} (${h.params} params): predicted loss ${h.predicted.toFixed(4)}, measured ${h.measured.toFixed(4)}, error ${(100 * h.relativeError).toFixed(2)}%\n`);
  if (!analysis.heldOut.length && analysis.next) io.out(`predicted d${analysis.next.depth} (${analysis.next.params} params): test loss ${analysis.next.loss.toFixed(4)}\n`);
  io.err(`${stopped ? `stopped with ${runs.length} of ${all.length} runs finished (the fit is of those); the same command resumes\n` : ""}wrote ${join(v.out, "scaling.json")}, loss-vs-params.{png,svg}, loss-vs-compute.{png,svg}\n`);
  vqvae.dispose();
  return stopped ? 130 : 0;
}

export const scaling: Command = {
  name: "scaling",
  summary: "scaling laws: train a ladder of VAR sizes on one budget, fit power laws of test loss, plot them",
  usage,
  run: runScaling,
};
