/**
 * What a scaling ladder shows: power laws of held-out loss and token error
 * rate against parameters and against training compute (the VAR paper's
 * Fig. 5 and 6), the loss predicted for the next size up, the prediction
 * error of held-out sizes (trained, left out of the fit), the
 * compute-optimal frontier, and the plots of all of it (PNG and SVG).
 */

import { linePlotPng, type PlotSeries } from "../plot.js";
import { linePlotSvg } from "../plot-svg.js";
import type { LadderRun } from "./ladder.js";
import { computeFrontier, type FrontierPoint, fitPowerLaw, type PowerLawFit, powerLaw } from "./power-law.js";

/** The measured quantities a law is fitted to. */
export const SCALING_METRICS = ["loss", "tailLoss", "errorRate", "tailErrorRate"] as const;
export type ScalingMetric = (typeof SCALING_METRICS)[number];

/** A size left out of the fit: its measured and predicted values. */
export interface HeldOutCheck {
  depth: number;
  params: number;
  measured: number;
  predicted: number;
  /** (predicted − measured) / measured. */
  relativeError: number;
}

export interface ScalingAnalysis {
  /** Depths the laws were fitted to. */
  fitted: number[];
  /** Per metric: the law against parameters N and against compute C (FLOPs). */
  laws: Record<ScalingMetric, { params: PowerLawFit; compute: PowerLawFit }>;
  /** The test loss predicted by the N law for the next size up (when its parameters are given). */
  next?: { depth: number; params: number; loss: number; errorRate: number };
  /** Held-out sizes: test loss predicted by the N law against the measured one. */
  heldOut: HeldOutCheck[];
  /** The compute-optimal frontier of the training curves. */
  frontier: FrontierPoint[];
}

/**
 * Fit the laws to `runs` other than `holdout` depths (at least 2 runs left),
 * predict `next` when given, check the held-out runs.
 */
export function analyzeScaling(runs: readonly LadderRun[], opts: { holdout?: readonly number[]; next?: { depth: number; params: number } } = {}): ScalingAnalysis {
  const holdout = new Set(opts.holdout ?? []);
  const fit = runs.filter((r) => !holdout.has(r.depth));
  if (fit.length < 2) throw new Error(`analyzeScaling: needs at least 2 fitted runs (got ${fit.length})`);
  const laws = Object.fromEntries(
    SCALING_METRICS.map((m) => [
      m,
      {
        params: fitPowerLaw(
          fit.map((r) => r.params),
          fit.map((r) => r.test[m]),
        ),
        compute: fitPowerLaw(
          fit.map((r) => r.flops),
          fit.map((r) => r.test[m]),
        ),
      },
    ]),
  ) as ScalingAnalysis["laws"];
  const heldOut = runs
    .filter((r) => holdout.has(r.depth))
    .map((r) => {
      const predicted = powerLaw(laws.loss.params, r.params);
      return { depth: r.depth, params: r.params, measured: r.test.loss, predicted, relativeError: (predicted - r.test.loss) / r.test.loss };
    });
  const next = opts.next && { ...opts.next, loss: powerLaw(laws.loss.params, opts.next.params), errorRate: powerLaw(laws.errorRate.params, opts.next.params) };
  const frontier = computeFrontier(runs.map((r) => ({ run: `d${r.depth}`, points: r.curve })));
  return { fitted: fit.map((r) => r.depth), laws, next, heldOut, frontier };
}

const fmt = (v: number, d = 3) => (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-2 ? v.toExponential(2) : v.toFixed(d));

/** "L = (β·N)^α": the law as the legend names it. */
export function lawText(f: PowerLawFit, x: string): string {
  const beta = f.beta > 0 && Number.isFinite(f.beta) ? fmt(f.beta) : `e^${f.logBeta.toFixed(1)}`;
  return `L = (${beta}*${x})^${f.alpha.toFixed(3)}, r ${f.pearson.toFixed(3)}`;
}

/** The fitted law as a two-point line over [lo, hi]. */
function lawLine(f: PowerLawFit, lo: number, hi: number): Array<[number, number]> {
  return [lo, hi].map((x): [number, number] => [x, powerLaw(f, x)]);
}

const GREY: [number, number, number] = [90, 90, 90];
const BLACK: [number, number, number] = [0, 0, 0];

/** The two figures as plot series and options: test loss vs parameters; training curves vs compute with the frontier and the compute law. */
export function scalingFigures(runs: readonly LadderRun[], a: ScalingAnalysis, title = "VAR scaling") {
  const fitted = runs.filter((r) => a.fitted.includes(r.depth));
  const held = runs.filter((r) => !a.fitted.includes(r.depth));
  const xs = runs.map((r) => r.params).concat(a.next ? [a.next.params] : []);
  const nLo = Math.min(...xs) / 1.3;
  const nHi = Math.max(...xs) * 1.3;
  const params: PlotSeries[] = [
    { name: "test loss (fitted sizes)", points: fitted.map((r) => [r.params, r.test.loss]), lineless: true, color: [31, 119, 180] },
    ...(held.length ? [{ name: "test loss (held-out size)", points: held.map((r): [number, number] => [r.params, r.test.loss]), lineless: true, color: [214, 39, 40] as [number, number, number] }] : []),
    { name: lawText(a.laws.loss.params, "N"), points: lawLine(a.laws.loss.params, nLo, nHi), dashed: true, color: GREY },
    ...(a.next ? [{ name: `predicted d${a.next.depth}: ${a.next.loss.toFixed(3)}`, points: [[a.next.params, a.next.loss] as [number, number]], markers: true, color: [255, 127, 14] as [number, number, number] }] : []),
  ];
  const curves: PlotSeries[] = runs.map((r) => ({ name: `d${r.depth} (${(r.params / 1e6).toFixed(2)}M)`, points: r.curve.map((p): [number, number] => [p.compute, p.loss]) }));
  const cLo = Math.min(...runs.map((r) => r.curve[0]?.compute ?? r.flops));
  const cHi = Math.max(...runs.map((r) => r.flops)) * 1.3;
  const compute: PlotSeries[] = [
    ...curves,
    { name: "frontier (best at each compute)", points: a.frontier.map((p): [number, number] => [p.compute, p.loss]), color: BLACK },
    { name: "test loss at the end", points: fitted.map((r) => [r.flops, r.test.loss]), lineless: true, color: GREY },
    { name: lawText(a.laws.loss.compute, "C"), points: lawLine(a.laws.loss.compute, cLo, cHi), dashed: true, color: GREY },
  ];
  return {
    params: { series: params, options: { title: `${title}: test loss vs parameters`, xLabel: "parameters N (log)", yLabel: "test loss, mean CE (nats, log)", logX: true, logY: true, width: 800, height: 500 } },
    compute: { series: compute, options: { title: `${title}: loss vs training compute`, xLabel: "training compute C = 6NT (FLOPs, log)", yLabel: "loss, mean CE (nats, log)", logX: true, logY: true, width: 800, height: 500 } },
  };
}

/** The figures' files: `loss-vs-params.{png,svg}` and `loss-vs-compute.{png,svg}` by name. */
export function scalingPlotFiles(runs: readonly LadderRun[], a: ScalingAnalysis, title?: string): Record<string, Uint8Array | string> {
  const f = scalingFigures(runs, a, title);
  return {
    "loss-vs-params.png": linePlotPng(f.params.series, f.params.options),
    "loss-vs-params.svg": linePlotSvg(f.params.series, f.params.options),
    "loss-vs-compute.png": linePlotPng(f.compute.series, f.compute.options),
    "loss-vs-compute.svg": linePlotSvg(f.compute.series, f.compute.options),
  };
}
