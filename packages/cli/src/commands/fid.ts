import { statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { openCheckpoint, resolveModel } from "@nextscale/core";
import {
  type ClassAccuracy,
  classifyImages,
  computeStatistics,
  type EvalInput,
  EvalInputError,
  type EvaluationResult,
  evaluate,
  type FeatureExtractor,
  FID_WEIGHTS_FILE,
  FID_WEIGHTS_URL,
  imageLabels,
  inceptionFeatureExtractor,
  listImageFiles,
  loadFidInception,
  loadStatistics,
  mergeStatistics,
  openEvalInput,
  StatisticsError,
  type StatisticsFile,
  statisticsToNpz,
} from "@nextscale/eval";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { checkOutputFile, writeFileAtomic } from "../output.js";
import { progressBar } from "../progress.js";
import { type Command, type CommandIO, UsageError } from "./types.js";

const WEIGHTS_HELP = `computing Inception features needs pytorch-fid's FID Inception weights, which are never downloaded automatically: run \`nextscale download inception\` (${FID_WEIGHTS_FILE} from ${FID_WEIGHTS_URL}) and pass --inception-weights inception, or pass --inception-weights /path/to/${FID_WEIGHTS_FILE} (or set NEXTSCALE_INCEPTION_WEIGHTS), or pass --features module.js for a domain feature extractor`;

/** Feature extractors known by name to --features: the module each name imports. */
export const NAMED_FEATURES: Readonly<Record<string, string>> = {
  "fashion-mnist": "@nextscale/model-fashion-mnist/classifier",
};

async function loadExtractorModule(path: string): Promise<FeatureExtractor> {
  const named = NAMED_FEATURES[path];
  const spec = named ?? pathToFileURL(resolve(path)).href;
  const mod = await import(spec).catch((e: Error) => {
    const known = `named extractors: ${Object.keys(NAMED_FEATURES).join(", ")}`;
    throw new UsageError(`--features ${path}: cannot import ${named ?? "it"} (${e.message.split("\n")[0]}); pass a module's path or a name (${known})`, 1);
  });
  const entry = mod.default ?? mod.createFeatureExtractor;
  const ex = typeof entry === "function" ? await entry() : entry;
  if (!ex || typeof ex.extract !== "function" || typeof ex.name !== "string" || !(Number.isInteger(ex.dim) && ex.dim > 0)) {
    throw new UsageError(
      `--features ${path}: the module must export (as default or createFeatureExtractor) a FeatureExtractor {name, dim, extract(images, want)} or a function returning one`,
      1,
    );
  }
  for (const k of ["numClasses", "spatialDim"] as const) {
    if (ex[k] !== undefined && !(Number.isInteger(ex[k]) && ex[k] > 0)) {
      throw new UsageError(`--features ${path}: the extractor's ${k} must be a positive integer or absent (got ${String(ex[k])})`, 1);
    }
  }
  return ex;
}

/** `{accuracy, correct, count, per_class: [{class, count, correct, accuracy}]}`, as --json prints it. */
function accuracyJson(a: ClassAccuracy) {
  return { accuracy: a.accuracy, correct: a.correct, count: a.count, per_class: a.perClass };
}

/** `Accuracy: 0.912 (912/1000)`, then a line per class that has images. */
function accuracyLines(a: ClassAccuracy): string[] {
  return [`Accuracy: ${a.accuracy.toFixed(3)} (${a.correct}/${a.count})`, ...a.perClass.map((c) => `  class ${c.class}: ${c.accuracy.toFixed(3)} (${c.correct}/${c.count})`)];
}

function formatResult(r: EvaluationResult, json: boolean, extractor?: string): string {
  if (json) {
    const out: Record<string, unknown> = { fid: r.fid };
    if (r.sfid !== undefined) out.sfid = r.sfid;
    if (r.inceptionScore) {
      out.is = r.inceptionScore.mean;
      out.is_std = r.inceptionScore.std;
    }
    if (r.precision !== undefined) out.precision = r.precision;
    if (r.recall !== undefined) out.recall = r.recall;
    if (r.accuracy) out.accuracy = accuracyJson(r.accuracy);
    out.count = r.count;
    if (extractor) out.extractor = extractor;
    out.offset_applied = r.frechet.offsetApplied;
    return `${JSON.stringify(out)}\n`;
  }
  const lines = [`FID: ${r.fid}`];
  if (r.sfid !== undefined) lines.push(`sFID: ${r.sfid}`);
  if (r.inceptionScore) lines.push(`Inception Score: ${r.inceptionScore.mean} ± ${r.inceptionScore.std}`);
  if (r.precision !== undefined) lines.push(`Precision: ${r.precision}`, `Recall: ${r.recall}`);
  if (r.accuracy) lines.push(...accuracyLines(r.accuracy));
  return `${lines.join("\n")}\n`;
}

export const fid: Command = {
  name: "fid",
  summary: "FID (and sFID, IS, precision/recall, accuracy on the class asked for) between two image folders or statistics files",
  usage: `usage: nextscale fid A B [--inception-weights F] [--features M] [--json] [--is] [--pr]
                     [--accuracy] [--save-stats out.npz] [--batch N] [--splits N] [--preprocess tf]
       nextscale fid A --save-stats out.npz [--inception-weights F | --features M]
       nextscale fid B --accuracy [--features M | --inception-weights F]
                     [--save-stats out.npz] [--json]
       nextscale fid --merge a.npz b.npz … --save-stats all.npz [--json]

A is the reference set, B the generated one; each is a folder of PNG/JPEG
images (any size; other files are skipped with a warning), an .npz of
statistics (ours, or OpenAI's reference batches such as
VIRTUAL_imagenet256_labeled.npz), or an .npz of uint8 images in arr_0.
Features are pytorch-fid's: FID-Inception pool3, images resized to 299x299
(bilinear), numbers equal to pytorch-fid's on the same inputs.

  --inception-weights F  pytorch-fid's ${FID_WEIGHTS_FILE} (path, URL, or
                         inception: the cached file); also
                         NEXTSCALE_INCEPTION_WEIGHTS. Nothing is downloaded
                         automatically: \`nextscale download inception\` gets
                         it from ${FID_WEIGHTS_URL}
  --features M           a domain feature extractor instead of Inception: a
                         module (path) exporting (default or
                         createFeatureExtractor) a FeatureExtractor of
                         @nextscale/eval, or a function returning one; or a
                         name: fashion-mnist (the bundled model's classifier,
                         @nextscale/model-fashion-mnist/classifier)
  --json                 print {"fid": …, "sfid": …, "is": …, "precision": …,
                         "recall": …, "accuracy": {…}, "count": {"A": …, "B": …}}
  --is                   Inception Score of B (--splits N, default 10); needs
                         images in B and classifier logits (Inception has them;
                         a --features extractor needs numClasses)
  --pr                   improved precision and recall (k = 3); needs images on
                         both sides (a reference batch's arr_0 counts), more
                         than 3 in each
  --accuracy             accuracy on the class asked for: the share of B's
                         images whose class, from its file name
                         (<class>_<i>.png, as \`nextscale generate --out-dir\`
                         writes them; every image needs one), is the argmax of
                         the classifier's logits (a --features extractor needs
                         numClasses; Inception's are its 1008 outputs). Prints
                         "Accuracy: 0.912 (912/1000)" and a line per class
                         (--json: "accuracy": {"accuracy", "correct", "count",
                         "per_class": [{"class", "count", "correct",
                         "accuracy"}]}). With one input, only that folder's
                         accuracy (and its statistics with --save-stats)
  --save-stats out.npz   save the statistics computed from images (mu, sigma,
                         count, mu_s, sigma_s); with one input, only that. Its
                         folder must exist; written whole or not at all
  --batch N              images per forward pass (default 50)
  --preprocess tf        feed Inception as the TF graph of OpenAI's evaluator
                         does (TF1 bilinear resize, (x-128)/128) instead of as
                         pytorch-fid (the default); closer to numbers computed
                         against OpenAI's reference statistics

--merge combines statistics files of disjoint image sets (the shards of a
sharded run, each saved with --save-stats) into the statistics of their
union: counts, means and covariances (and the spatial ones) merged exactly,
so the FID against the merged file equals the FID of one run over every
image up to float64 rounding. Every file needs its count (ours store it;
OpenAI's reference batches do not) and the same feature extractor.

sFID is reported when both sides have spatial statistics. --backend B picks
the backend (webgpu, wasm or cpu); otherwise it is
chosen by NEXTSCALE_BACKEND (default wasm, then cpu). Progress goes to stderr.
What a run needs (--save-stats' folder, images for --is, --pr and --accuracy,
logits for --is and --accuracy, a class in every file name for --accuracy) is
checked before any image is embedded.`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        "inception-weights": { type: "string" },
        backend: { type: "string" },
        features: { type: "string" },
        json: { type: "boolean", default: false },
        is: { type: "boolean", default: false },
        pr: { type: "boolean", default: false },
        accuracy: { type: "boolean", default: false },
        "save-stats": { type: "string" },
        batch: { type: "string", default: "50" },
        splits: { type: "string", default: "10" },
        preprocess: { type: "string", default: "pytorch-fid" },
        merge: { type: "boolean", default: false },
      },
    });
    if (values.merge) return mergeFiles(positionals, values["save-stats"], values.json, io);
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError("expected two inputs A and B (or one with --save-stats or --accuracy)");
    if (positionals.length === 1 && !values["save-stats"] && !values.accuracy) {
      throw new UsageError("with one input, pass --save-stats out.npz (its statistics) or --accuracy (its accuracy on the class asked for)");
    }
    const batchSize = Number(values.batch);
    const splits = Number(values.splits);
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new UsageError(`--batch must be a positive integer (got ${values.batch})`);
    if (!(Number.isInteger(splits) && splits > 0)) throw new UsageError(`--splits must be a positive integer (got ${values.splits})`);
    const preprocess = values.preprocess;
    if (preprocess !== "pytorch-fid" && preprocess !== "tf") throw new UsageError(`--preprocess must be pytorch-fid or tf (got ${preprocess})`);
    if (values["save-stats"]) checkOutputFile(values["save-stats"], "--save-stats", [".npz"]);
    let extractor: FeatureExtractor | undefined;
    try {
      const warn = (m: string) => io.err(`warning: ${m}\n`);
      const inputs: EvalInput[] = [];
      for (const p of positionals) inputs.push(await openEvalInput(p, { onWarning: warn }));
      const [a, b] = inputs;
      if (values.is && b && !b.images) throw new UsageError(`${b.name}: the Inception Score needs images, but this input holds only statistics`, 1);
      const noImages = inputs.find((x) => !x.images);
      if (values.pr && noImages) throw new UsageError(`${noImages.name}: precision/recall needs images, but this input holds only statistics`, 1);
      // --accuracy scores B (with one input, that one): its images and each one's class from its file name, before any weights are loaded
      const scored = b ?? a;
      if (values.accuracy && !scored.images) throw new UsageError(`${scored.name}: --accuracy needs images, but this input holds only statistics`, 1);
      if (values.accuracy) imageLabels(scored);
      if (values.pr && b) {
        // each sample's radius is its k-th nearest neighbour's distance (k = 3): more than k images per set
        for (const p of positionals) {
          const n = statSync(p).isDirectory() ? (await listImageFiles(p)).files.length : undefined;
          if (n !== undefined && n <= 3) throw new UsageError(`--pr: ${p} has ${n} image${n === 1 ? "" : "s"}; precision/recall needs more than k = 3 images in each set`, 1);
        }
      }
      const needFeatures = inputs.some((x) => !x.statistics) || values.pr || values.is || values.accuracy;
      if (needFeatures) {
        await chooseBackend(values.backend);
        if (values.features) {
          extractor = await loadExtractorModule(values.features);
          // before any image is embedded: the Inception Score is computed from the extractor's classifier logits
          if (values.is && extractor.numClasses === undefined) {
            throw new UsageError(
              `--is: the Inception Score needs classifier logits, but the feature extractor "${extractor.name}" of --features ${values.features} has none (it declares no numClasses); drop --is, or give the extractor numClasses and return logits from extract(images, { logits: true })`,
              1,
            );
          }
          if (values.accuracy && extractor.numClasses === undefined) {
            throw new UsageError(
              `--accuracy: the accuracy on the class asked for needs classifier logits, but the feature extractor "${extractor.name}" of --features ${values.features} has none (it declares no numClasses); drop --accuracy, or give the extractor numClasses and return logits from extract(images, { logits: true })`,
              1,
            );
          }
        } else {
          const weights = values["inception-weights"] ?? process.env.NEXTSCALE_INCEPTION_WEIGHTS;
          if (!weights) throw new UsageError(WEIGHTS_HELP, 1);
          const store = await openCheckpoint(await resolveModel(weights));
          try {
            extractor = inceptionFeatureExtractor(await loadFidInception(store), { preprocess });
          } finally {
            await store.close();
          }
        }
      }
      if (values.accuracy) imageLabels(scored, extractor!.numClasses); // every class is one of the classifier's
      const save = values["save-stats"];
      if (!b && values.accuracy) {
        const { accuracy, computed } = await classifyImages(await a.images!(), extractor!, { batchSize, onProgress: progressBar(io, "A") });
        if (save) {
          writeStats(save, computed);
          io.err(`saved statistics of ${computed.count} images (${computed.extractor}) to ${save}\n`);
        }
        if (values.json) io.out(`${JSON.stringify({ accuracy: accuracyJson(accuracy), count: computed.count, extractor: computed.extractor, ...(save ? { saved: save } : {}) })}\n`);
        else io.out(`${accuracyLines(accuracy).join("\n")}\n`);
        return 0;
      }
      if (!b) {
        if (!a.images) throw new UsageError(`${a.name} holds statistics already; --save-stats needs images`);
        const s = await computeStatistics(await a.images(), extractor!, { batchSize, onProgress: progressBar(io, "A") });
        writeStats(save!, s);
        io.err(`saved statistics of ${s.count} images (${s.extractor}) to ${save}\n`);
        if (values.json) io.out(`${JSON.stringify({ saved: save, count: s.count, extractor: s.extractor })}\n`);
        return 0;
      }
      const r = await evaluate(a, b, {
        extractor,
        batchSize,
        inceptionScore: values.is ? splits : false,
        precisionRecall: values.pr,
        accuracy: values.accuracy,
        onProgress: (() => {
          const bars = { A: progressBar(io, "A"), B: progressBar(io, "B") };
          return (side: "A" | "B", p: { done: number; total?: number }) => bars[side](p);
        })(),
      });
      if (r.frechet.offsetApplied) io.err("warning: the covariance square root was not finite; added 1e-6 to the diagonals (as pytorch-fid does)\n");
      if (save) {
        const computed = [r.computed.A, r.computed.B].filter((x) => x !== undefined);
        if (computed.length !== 1) {
          throw new UsageError(
            computed.length === 0
              ? "--save-stats: no statistics were computed from images in this run"
              : "--save-stats: both A and B were computed from images; save them one at a time with `nextscale fid DIR --save-stats out.npz`",
          );
        }
        writeStats(save, computed[0]!);
        io.err(`saved statistics of ${computed[0]!.count} images to ${save}\n`);
      }
      io.out(formatResult(r, values.json, extractor?.name));
      return 0;
    } catch (e) {
      if (e instanceof EvalInputError || e instanceof StatisticsError) throw new UsageError(e.message, 1);
      throw e;
    } finally {
      extractor?.dispose?.();
    }
  },
};

/** `nextscale fid --merge a.npz b.npz … --save-stats all.npz`: the statistics of the union of disjoint sets. */
async function mergeFiles(files: string[], save: string | undefined, json: boolean, io: CommandIO): Promise<number> {
  if (!save) throw new UsageError("--merge writes the merged statistics: pass --save-stats all.npz");
  if (files.length === 0) throw new UsageError("--merge needs the statistics files to merge (a.npz b.npz …)");
  checkOutputFile(save, "--save-stats", [".npz"]);
  try {
    const parts = [];
    for (const f of files) parts.push({ ...(await loadStatistics(f)), name: f });
    const merged = mergeStatistics(parts);
    writeStats(save, merged);
    io.err(`merged ${files.length} statistics files (${parts.map((p) => p.stats.count).join(" + ")} = ${merged.stats.count} images) into ${save}\n`);
    if (json) io.out(`${JSON.stringify({ saved: save, count: merged.stats.count, parts: parts.map((p) => ({ file: p.name, count: p.stats.count })), extractor: merged.extractor ?? null })}\n`);
    return 0;
  } catch (e) {
    if (e instanceof EvalInputError || e instanceof StatisticsError) throw new UsageError(e.message, 1);
    if (e instanceof Error && /ENOENT/.test(e.message)) throw new UsageError(`--merge: ${e.message}`, 1);
    throw e;
  }
}

/** Written through a temporary file renamed into place: a failed run leaves no half-written statistics. */
function writeStats(path: string, s: StatisticsFile): void {
  writeFileAtomic(path, statisticsToNpz({ stats: s.stats, spatial: s.spatial, extractor: s.extractor }));
}
