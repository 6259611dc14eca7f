/**
 * Inception Score (Salimans et al. 2016, "Improved techniques for training
 * GANs", §4): exp E_x KL(p(y|x) ‖ p(y)), with p(y) the mean of p(y|x) over
 * the split. As in openai/improved-gan `inception_score/model.py` (and
 * pytorch/torch-fidelity), the N samples are cut into `splits` consecutive
 * parts [i·N/splits, (i+1)·N/splits) and the score is the mean (and standard
 * deviation) over parts. Computed in float64 from logits with a stable
 * log-softmax.
 */
import { StatisticsError } from "./frechet-distance.js";

export interface InceptionScore {
  /** Mean score over the splits. */
  mean: number;
  /** Population standard deviation over the splits (numpy's np.std). */
  std: number;
  /** One score per split. */
  scores: number[];
}

/** Inception Score of row-major logits (N × classes); softmax is taken here. */
export function inceptionScore(logits: ArrayLike<number>, classes: number, splits = 10): InceptionScore {
  const n = logits.length / classes;
  if (!Number.isInteger(n) || n === 0) throw new StatisticsError(`inceptionScore: ${logits.length} logits are not N × ${classes}`);
  if (!(Number.isInteger(splits) && splits >= 1 && splits <= n)) {
    throw new StatisticsError(`inceptionScore: splits must be an integer in [1, ${n}] (got ${splits})`);
  }
  // log p(y|x) per row
  const logp = new Float64Array(n * classes);
  for (let r = 0; r < n; r++) {
    const o = r * classes;
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c++) m = Math.max(m, logits[o + c]);
    if (!Number.isFinite(m)) throw new StatisticsError(`inceptionScore: non-finite logits in row ${r}`);
    let z = 0;
    for (let c = 0; c < classes; c++) z += Math.exp(logits[o + c] - m);
    const lz = m + Math.log(z);
    for (let c = 0; c < classes; c++) logp[o + c] = logits[o + c] - lz;
  }
  const scores: number[] = [];
  for (let s = 0; s < splits; s++) {
    const a = Math.floor((s * n) / splits);
    const b = Math.floor(((s + 1) * n) / splits);
    const py = new Float64Array(classes);
    for (let r = a; r < b; r++) for (let c = 0; c < classes; c++) py[c] += Math.exp(logp[r * classes + c]);
    for (let c = 0; c < classes; c++) py[c] = Math.log(py[c] / (b - a));
    let kl = 0;
    for (let r = a; r < b; r++) {
      const o = r * classes;
      for (let c = 0; c < classes; c++) {
        const lp = logp[o + c];
        kl += Math.exp(lp) * (lp - py[c]);
      }
    }
    scores.push(Math.exp(kl / (b - a)));
  }
  const mean = scores.reduce((x, y) => x + y, 0) / splits;
  const std = Math.sqrt(scores.reduce((x, y) => x + (y - mean) ** 2, 0) / splits);
  return { mean, std, scores };
}
