/**
 * Power laws L = (β·X)^α fitted by least squares in log-log space, as the
 * VAR paper's scaling figures (§4, Fig. 5/6: test loss and token error rate
 * against parameters N and training compute C, with Pearson coefficients):
 * ln L = α·ln X + α·ln β is a straight line, so α is its slope and β comes
 * from the intercept. The confidence interval of α is the usual one of an
 * ordinary least-squares slope (Student t with n − 2 degrees of freedom).
 */

/** A fitted L = (β·X)^α. */
export interface PowerLawFit {
  /** The exponent (negative when L falls with X). */
  alpha: number;
  /** The scale: L = (β·X)^α (0 or Infinity when |α| is so small that β is out of float range: see `logBeta`). */
  beta: number;
  /** ln β = intercept / α, what `powerLaw` computes with (finite where β itself overflows). */
  logBeta: number;
  /** Pearson correlation of (ln X, ln L): −1 is a perfect falling power law. */
  pearson: number;
  /** Points fitted. */
  n: number;
  /** Standard error of α (NaN with fewer than 3 points). */
  alphaStdErr: number;
  /** Two-sided confidence interval of α at `level` (NaN bounds with fewer than 3 points). */
  alphaCI: [number, number];
  /** Confidence level of `alphaCI` (0.95). */
  level: number;
}

/** Two-sided 95% Student t quantiles t(0.975, df) for df = 1…30; beyond, the normal 1.96 is within 2%. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t(0.975, df): the half-width factor of a 95% interval. */
export function studentT975(df: number): number {
  if (!(df >= 1)) return Number.NaN;
  return df <= 30 ? T975[Math.floor(df) - 1] : 1.96 + 2.4 / df; // the 1/df term keeps df 31…∞ within 0.5%
}

/**
 * Fit L = (β·X)^α to points (x, L), all > 0 (at least 2 with distinct x).
 * Throws for fewer points, non-positive or non-finite values.
 */
export function fitPowerLaw(xs: readonly number[], ys: readonly number[]): PowerLawFit {
  const n = xs.length;
  if (n !== ys.length) throw new Error(`fitPowerLaw: ${n} x values and ${ys.length} y values`);
  if (n < 2) throw new Error(`fitPowerLaw: needs at least 2 points (got ${n})`);
  for (let i = 0; i < n; i++) {
    if (!(xs[i] > 0 && ys[i] > 0 && Number.isFinite(xs[i]) && Number.isFinite(ys[i]))) throw new Error(`fitPowerLaw: point ${i} (${xs[i]}, ${ys[i]}) is not positive and finite`);
  }
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / n;
  const my = ly.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (lx[i] - mx) ** 2;
    sxy += (lx[i] - mx) * (ly[i] - my);
    syy += (ly[i] - my) ** 2;
  }
  if (!(sxx > 0)) throw new Error("fitPowerLaw: all x values are equal");
  const alpha = sxy / sxx;
  const intercept = my - alpha * mx; // = α·ln β
  const logBeta = intercept / alpha;
  const beta = Math.exp(logBeta);
  const pearson = syy > 0 ? sxy / Math.sqrt(sxx * syy) : Number.NaN;
  const ssr = Math.max(0, syy - alpha * sxy);
  const alphaStdErr = n > 2 ? Math.sqrt(ssr / (n - 2) / sxx) : Number.NaN;
  const h = studentT975(n - 2) * alphaStdErr;
  return { alpha, beta, logBeta, pearson, n, alphaStdErr, alphaCI: [alpha - h, alpha + h], level: 0.95 };
}

/** The law at x: (β·x)^α, computed as exp(α·(ln β + ln x)) (`logBeta` when given: β may be out of float range). */
export function powerLaw(fit: { alpha: number; beta?: number; logBeta?: number }, x: number): number {
  const logBeta = fit.logBeta ?? Math.log(fit.beta ?? Number.NaN);
  return Math.exp(fit.alpha * (logBeta + Math.log(x)));
}

/**
 * Training compute in FLOPs: 6·N·T (forward 2·N·T, backward 4·N·T per
 * token, the rule of the LLM scaling papers the VAR paper follows), for N
 * parameters and T tokens seen.
 */
export function trainingFlops(params: number, tokens: number): number {
  return 6 * params * tokens;
}

/** A point of a run's training curve: compute spent so far and the loss there. */
export interface CurvePoint {
  compute: number;
  loss: number;
}

/** A frontier point: the lowest loss any run reached at that compute, and which run. */
export interface FrontierPoint extends CurvePoint {
  run: string;
}

/**
 * The compute-optimal frontier of several runs' curves (the paper's compute
 * figure): the points, over all runs sorted by compute, that have a lower
 * loss than every point at less compute — the lower envelope, each point
 * naming the run (model size) that is best at that compute.
 */
export function computeFrontier(curves: ReadonlyArray<{ run: string; points: readonly CurvePoint[] }>): FrontierPoint[] {
  const all = curves.flatMap((c) => c.points.filter((p) => p.compute > 0 && Number.isFinite(p.loss)).map((p) => ({ ...p, run: c.run })));
  all.sort((a, b) => a.compute - b.compute || a.loss - b.loss);
  const out: FrontierPoint[] = [];
  let best = Infinity;
  for (const p of all) {
    if (p.loss < best) {
      out.push(p);
      best = p.loss;
    }
  }
  return out;
}
