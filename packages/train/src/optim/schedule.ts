/**
 * The official learning-rate and weight-decay schedule (FoundationVision/VAR
 * `utils/lr_control.py` `lr_wd_annealing`), evaluated per iteration:
 *
 * - warm-up: for it < round(wpIt) (Python's round, halves to even), the lr
 *   ratio rises linearly from `wp0`: wp0 + (1 − wp0)·it/round(wpIt);
 * - then, with passed = (it − round(wpIt)) / (maxIt − 1 − round(wpIt)) in
 *   [0, 1] and rest = 1 − passed, by schedule type:
 *   `cos`: wpe + (1 − wpe)·(½ + ½·cos(π·passed));
 *   `lin`: 1 until passed 0.15, then wpe + (1 − wpe)·rest/0.85;
 *   `lin0` (the official default): 1 until passed 0.05, then wpe + (1 − wpe)·rest/0.95;
 *   `lin00`: wpe + (1 − wpe)·rest;
 *   `lin<T>` (T a number, e.g. `lin0.3`): from 1 down to a midpoint
 *   m = (1 + wpe + (1 − wpe)(1 − T))/2 over passed < T, then m down to wpe;
 *   `exp`: 1 until passed 0.15, then exp((passed − 0.15)/0.85·ln wpe);
 *   so the last iteration (maxIt − 1) ends at wpe·peak (0.01× by default);
 * - lr = ratio·peakLr; weight decay follows a half cosine over the whole
 *   run, wdEnd + (wd − wdEnd)·(½ + ½·cos(π·it/(maxIt − 1))) (constant with
 *   the official wd_end = wd);
 * - each group gets lr·lrScale and weightDecay·wdScale.
 */
import type { ParamGroup } from "./param-groups.js";

export type ScheduleType = "cos" | "lin" | "lin0" | "lin00" | "exp" | `lin${number}`;

export interface AnnealingOptions {
  /** Schedule type (official default `lin0`). */
  sche: ScheduleType | string;
  /** The peak lr (the official `tlr`). */
  peakLr: number;
  /** Initial weight decay (official 0.05). */
  wd: number;
  /** Final weight decay (official: equal to wd). */
  wdEnd: number;
  /** Warm-up iterations (fractional allowed: rounded as Python does). */
  wpIt: number;
  /** Total iterations of the run. */
  maxIt: number;
  /** lr ratio at the start of warm-up (official 0.005). */
  wp0?: number;
  /** lr ratio at the end of training (official 0.01). */
  wpe?: number;
}

/** Python's round(): halves to even. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Python's float() on a string (for `lin<T>`): a finite or infinite decimal, surrounding spaces allowed. */
function pyFloat(s: string, sche: string): number {
  const t = s.trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return Number(t);
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  throw new RangeError(`unknown schedule type "${sche}" (known: cos, lin, lin0, lin00, lin<T>, exp)`);
}

/** The scheduled lr and weight decay at iteration `it` (before the groups' scales). */
export function lrWdAnnealing(it: number, o: AnnealingOptions): { lr: number; weightDecay: number } {
  const wp0 = o.wp0 ?? 0.005;
  const wpe = o.wpe ?? 0.01;
  const wpIt = pyRound(o.wpIt);
  let ratio: number;
  if (it < wpIt) {
    ratio = wp0 + ((1 - wp0) * it) / wpIt;
  } else {
    const span = o.maxIt - 1 - wpIt;
    if (span === 0) throw new RangeError(`lrWdAnnealing: maxIt - 1 - round(wpIt) is 0 (maxIt ${o.maxIt}, wpIt ${o.wpIt})`);
    const passed = (it - wpIt) / span;
    const rest = 1 - passed;
    const s = o.sche;
    if (s === "cos") ratio = wpe + (1 - wpe) * (0.5 + 0.5 * Math.cos(Math.PI * passed));
    else if (s === "lin") ratio = passed < 0.15 ? 1 : wpe + ((1 - wpe) * rest) / (1 - 0.15);
    else if (s === "lin0") ratio = passed < 0.05 ? 1 : wpe + ((1 - wpe) * rest) / (1 - 0.05);
    else if (s === "lin00") ratio = wpe + (1 - wpe) * rest;
    else if (s.startsWith("lin")) {
      const T = pyFloat(s.slice(3), s);
      const maxRest = 1 - T;
      const mid = (1 + (wpe + (1 - wpe) * maxRest)) / 2;
      ratio = passed < T ? 1 + ((mid - 1) * passed) / T : wpe + ((mid - wpe) * rest) / maxRest;
    } else if (s === "exp") ratio = passed < 0.15 ? 1 : Math.exp(((passed - 0.15) / (1 - 0.15)) * Math.log(wpe));
    else throw new RangeError(`unknown schedule type "${s}" (known: cos, lin, lin0, lin00, lin<T>, exp)`);
  }
  const lr = ratio * o.peakLr;
  const p = it / (o.maxIt - 1);
  const weightDecay = o.wdEnd + (o.wd - o.wdEnd) * (0.5 + 0.5 * Math.cos(Math.PI * p));
  return { lr, weightDecay };
}

/** Set each group's lr and weight decay from the scheduled values (times `lrScale` / `wdScale`). */
export function applySchedule(groups: ParamGroup[], lr: number, weightDecay: number): void {
  for (const g of groups) {
    g.lr = lr * g.lrScale;
    g.weightDecay = weightDecay * g.wdScale;
  }
}

/**
 * The official peak lr: tlr = ac · tblr · globalBatch / 256 (utils/arg_util.py),
 * base lr 1e-4 by default, `ac` the gradient-accumulation steps.
 */
export function officialPeakLr(globalBatch: number, baseLr = 1e-4, gradAccumulation = 1): number {
  return (gradAccumulation * baseLr * globalBatch) / 256;
}

export interface OfficialScheduleOptions {
  /** Epochs of the run (official `ep`, 250). */
  epochs: number;
  /** Iterations per epoch (the loader's length). */
  itersPerEpoch: number;
  /** Global batch size: the peak lr is baseLr·batch/256 unless `peakLr` is given. */
  globalBatch?: number;
  baseLr?: number;
  peakLr?: number;
  /** Warm-up epochs (official: 0 means epochs/50). */
  warmupEpochs?: number;
  sche?: ScheduleType | string;
  wd?: number;
  /** Final weight decay (official: 0 means equal to wd). */
  wdEnd?: number;
  wp0?: number;
  wpe?: number;
}

/** The official schedule of a run, by global iteration g_it = epoch·itersPerEpoch + it. */
export class OfficialSchedule {
  readonly options: Required<AnnealingOptions>;
  constructor(o: OfficialScheduleOptions) {
    if (!(o.epochs > 0 && o.itersPerEpoch > 0)) throw new RangeError("OfficialSchedule: epochs and itersPerEpoch must be positive");
    const peakLr = o.peakLr ?? officialPeakLr(o.globalBatch ?? 256, o.baseLr ?? 1e-4);
    const wp = o.warmupEpochs || o.epochs / 50;
    const wd = o.wd ?? 0.05;
    this.options = {
      sche: o.sche ?? "lin0",
      peakLr,
      wd,
      wdEnd: o.wdEnd || wd,
      wpIt: wp * o.itersPerEpoch,
      maxIt: o.epochs * o.itersPerEpoch,
      wp0: o.wp0 ?? 0.005,
      wpe: o.wpe ?? 0.01,
    };
  }
  /** lr and weight decay at a global iteration. */
  at(globalIt: number): { lr: number; weightDecay: number } {
    return lrWdAnnealing(globalIt, this.options);
  }
  /** Set the groups' lr and weight decay for a global iteration; returns the scheduled values. */
  apply(groups: ParamGroup[] | { groups: ParamGroup[] }, globalIt: number): { lr: number; weightDecay: number } {
    const v = this.at(globalIt);
    applySchedule(Array.isArray(groups) ? groups : groups.groups, v.lr, v.weightDecay);
    return v;
  }
}
