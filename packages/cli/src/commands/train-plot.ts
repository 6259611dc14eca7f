/**
 * `nextscale train plot LOG`: loss curves of a run from its metrics.jsonl,
 * as a PNG (log-scale loss against step, each curve a running mean over
 * 1 % of the run so that trends show through the step-to-step noise).
 * The training commands write the same plot as DIR/loss.png at the end.
 */
import { dirname, join } from "node:path";
import { linePlotPng, MetricsLogError, type MetricsRecord, type PlotSeries, readMetricsLog } from "@nextscale/train";
import { parseArgs } from "../args.js";
import { int } from "../flags.js";
import { checkOutputFile, writeFileAtomic } from "../output.js";
import { type CommandIO, UsageError } from "./types.js";

/** The curves drawn for each kind of run, by metric name in the log. */
const DEFAULT_METRICS: Record<string, string[]> = {
  vqvae: ["loss", "recL2", "vqLoss", "prefixL2", "dLoss"],
  var: ["meanLoss", "tailLoss"],
};
const LABELS: Record<string, string> = {
  loss: "total loss",
  recL2: "reconstruction mse",
  recL1: "reconstruction L1",
  vqLoss: "vq loss",
  prefixL2: "prefix loss (first scales)",
  gLoss: "generator (GAN) loss",
  dLoss: "discriminator hinge loss",
  dWeight: "adaptive GAN weight",
  meanLoss: "cross-entropy, all scales",
  tailLoss: "cross-entropy, last scale",
  accuracy: "token accuracy %",
  tailAccuracy: "last-scale accuracy %",
  gradNorm: "gradient norm",
  lr: "learning rate",
};

/** Running mean over `w` points (the first w−1 average what there is). */
function runningMean(points: [number, number][], w: number): [number, number][] {
  if (w <= 1) return points;
  let sum = 0;
  return points.map(([x, y], i) => {
    sum += y;
    if (i >= w) sum -= points[i - w][1];
    return [x, sum / Math.min(i + 1, w)];
  });
}

export interface LossPlotOptions {
  metrics?: string[];
  /** Points per running mean (default: 1 % of the steps, at least 1). */
  smooth?: number;
  title?: string;
}

/** The series and title of a log's plot. */
export function lossSeries(records: MetricsRecord[], opts: LossPlotOptions = {}): { series: PlotSeries[]; title: string; kind: string } {
  const start = records.find((r) => r.event === "start");
  const kind = typeof start?.kind === "string" ? start.kind : "run";
  const steps = records.filter((r) => r.event === "step" && typeof r.step === "number");
  const metrics = opts.metrics ?? DEFAULT_METRICS[kind] ?? ["loss"];
  const w = opts.smooth ?? Math.max(1, Math.round(steps.length / 100));
  const all = metrics.map((m) => ({
    name: `${LABELS[m] ?? m}${w > 1 ? ` (mean of ${w})` : ""}`,
    points: runningMean(
      steps.filter((r) => typeof r[m] === "number").map((r) => [r.step as number, r[m] as number]),
      w,
    ),
  }));
  // the defaults name what a run may log (prefixL2 only with --prefix-scales, dLoss only with --gan): draw those it did
  const series = opts.metrics ? all : all.filter((s, i) => s.points.length || i === 0);
  const title = `nextscale train ${kind}: ${steps.length ? `steps 1-${steps[steps.length - 1].step}` : "no steps yet"}`;
  return { series, title, kind };
}

/** Draw `log`'s loss curves to `out` (PNG); returns the path, or undefined when the log has no step yet. */
export function writeLossPlot(log: string, out: string, opts: LossPlotOptions = {}): string | undefined {
  const { series, title } = lossSeries(readMetricsLog(log), opts);
  if (!series.some((s) => s.points.length)) return undefined;
  const logY = series.every((s) => s.points.every(([, y]) => y > 0));
  writeFileAtomic(out, linePlotPng(series, { title, xLabel: "step", yLabel: logY ? "loss (log scale)" : "value", logY, width: 800, height: 480 }));
  return out;
}

export const trainPlotUsage = `usage: nextscale train plot LOG [--out F] [--metric a,b,…] [--smooth N]

Loss curves of a training run from its metrics log (DIR/metrics.jsonl of
nextscale train vqvae|var; it can be read while the run goes on), as a PNG.

  --out F        the PNG (default: loss.png beside the log)
  --metric a,b   the logged values to draw (default: vqvae loss, recL2, vqLoss;
                 var meanLoss, tailLoss; others: accuracy, tailAccuracy, gradNorm, lr …)
  --smooth N     running mean over N steps (default 1 % of the steps)`;

export async function runTrainPlot(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: "string" }, metric: { type: "string" }, smooth: { type: "string" } },
  });
  if (positionals.length !== 1) throw new UsageError(`train plot takes one metrics log (got ${positionals.length})\n\n${trainPlotUsage}`);
  const log = positionals[0];
  const out = values.out ?? join(dirname(log), "loss.png");
  checkOutputFile(out, "--out");
  const metrics = values.metric?.split(",").map((s) => s.trim()).filter(Boolean);
  let written: string | undefined;
  try {
    written = writeLossPlot(log, out, { metrics, smooth: values.smooth === undefined ? undefined : int(values.smooth, "--smooth", 1) });
  } catch (e) {
    if (e instanceof MetricsLogError) throw new UsageError(e.message, 1);
    throw e;
  }
  if (!written) {
    io.err(`${log}: no step logged${metrics ? ` with ${metrics.join(", ")}` : ""} yet: nothing to plot\n`);
    return 1;
  }
  io.out(`${written}\n`);
  return 0;
}
