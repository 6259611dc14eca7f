/**
 * Improved precision and recall (Kynkäänniemi et al. 2019, "Improved
 * precision and recall metric for assessing generative models", §2), as
 * OpenAI's evaluator (guided-diffusion `evaluations/evaluator.py`,
 * `ManifoldEstimator`) computes them: each sample's radius is the Euclidean
 * distance to its k-th nearest neighbour in its own set (the sample itself
 * counts as the 0-th), a point is on a manifold when it lies within (≤) the
 * radius of at least one sample of that set; precision is the fraction of
 * generated samples on the real manifold, recall the fraction of real
 * samples on the generated one.
 *
 * Distances are exact squared Euclidean distances in float64 (squares are
 * monotone, so comparing them decides exactly what comparing distances
 * does), where the evaluator uses float16/float32 matrix products; on ties
 * within those roundings the two may differ.
 */
import { StatisticsError } from "./frechet-distance.js";

export interface PrecisionRecall {
  precision: number;
  recall: number;
}

/** Squared distances between rows of X (n × d) and Y (m × d). */
function sqDistances(X: ArrayLike<number>, n: number, Y: ArrayLike<number>, m: number, d: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const t = X[i * d + k] - Y[j * d + k];
        s += t * t;
      }
      out[i * m + j] = s;
    }
  }
  return out;
}

/** Squared k-NN radius of every row within its own set (self included as the 0-th neighbour). */
function sqRadii(X: ArrayLike<number>, n: number, d: number, k: number): Float64Array {
  const D = sqDistances(X, n, X, n, d);
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = D.subarray(i * n, (i + 1) * n).slice().sort();
    r[i] = row[k];
  }
  return r;
}

/** Fraction of rows of `Y` that lie within the radius of some row of `X`. */
function coverage(X: ArrayLike<number>, rx: Float64Array, n: number, Y: ArrayLike<number>, m: number, d: number): number {
  const D = sqDistances(Y, m, X, n, d);
  let inside = 0;
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) {
      if (D[j * n + i] <= rx[i]) {
        inside++;
        break;
      }
    }
  }
  return inside / m;
}

/**
 * Improved precision and recall of generated features `fake` against `real`
 * (row-major, N × dim), with neighbourhood size k (3 in the paper and in the
 * evaluator).
 */
export function precisionRecall(real: ArrayLike<number>, fake: ArrayLike<number>, dim: number, k = 3): PrecisionRecall {
  const n = real.length / dim;
  const m = fake.length / dim;
  if (!Number.isInteger(n) || !Number.isInteger(m)) {
    throw new StatisticsError(`precisionRecall: ${real.length} and ${fake.length} values are not N × ${dim} feature matrices`);
  }
  if (!(Number.isInteger(k) && k >= 1)) throw new StatisticsError(`precisionRecall: k must be a positive integer (got ${k})`);
  if (n <= k || m <= k) throw new StatisticsError(`precisionRecall: need more than k = ${k} samples in each set (got ${n} real, ${m} generated)`);
  const rReal = sqRadii(real, n, dim, k);
  const rFake = sqRadii(fake, m, dim, k);
  return { precision: coverage(real, rReal, n, fake, m, dim), recall: coverage(fake, rFake, m, real, n, dim) };
}
