/**
 * Top-k then top-p filtering and one multinomial draw per token, as the
 * official `sample_with_top_k_top_p_` (FoundationVision/VAR
 * `models/helpers.py`) does, on host memory with our seeded `Random`.
 *
 * - top-k: keep every logit ≥ the k-th largest (ties at the boundary are all kept).
 * - top-p: sort ascending, drop the tokens whose cumulative softmax
 *   probability is ≤ 1 − p; the largest token is always kept. Equal logits
 *   are ordered by index (a stable sort), so ties are broken the same way
 *   on every platform. As in PyTorch, the probabilities are float32, their
 *   running sum is accumulated in float64 and stored as float32 (its CPU
 *   `cumsum`), and 1 − p is a float32 (a Python float compared with a
 *   float32 tensor); only the last bits of `exp` can still differ from
 *   PyTorch's vectorised one, which a decision feels only at a near-tie.
 * - draw: one sample from the softmax of what is left.
 */
import type { Random } from "@nextscale/core";

export interface FilterOptions {
  /** Keep the k largest logits (0 or ≥ V: no top-k). */
  topK?: number;
  /** Keep the smallest set with probability mass ≥ p (0 or ≥ 1: no top-p). */
  topP?: number;
}

export function validateFilter(opts: FilterOptions): void {
  const { topK = 0, topP = 0 } = opts;
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`top-k must be a non-negative integer (got ${topK})`);
  if (!(topP >= 0 && topP <= 1)) throw new RangeError(`top-p must be in [0, 1] (got ${topP})`);
}

/**
 * Filter one row of logits in place: removed entries become -Infinity.
 * `row` is a view of V logits.
 */
export function filterTopKTopP(row: Float32Array | Float64Array, opts: FilterOptions): void {
  const V = row.length;
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 0;
  if (topK > 0 && topK < V) {
    const kth = kthLargest(row, topK);
    for (let i = 0; i < V; i++) if (row[i] < kth) row[i] = Number.NEGATIVE_INFINITY;
  }
  if (topP > 0 && topP < 1) {
    const order = ascendingOrder(row);
    const max = row[order[V - 1]];
    let total = 0;
    for (let i = 0; i < V; i++) total += Math.exp(row[i] - max);
    const limit = Math.fround(1 - topP);
    let cum = 0;
    for (let j = 0; j < V - 1; j++) {
      const i = order[j];
      cum += Math.fround(Math.exp(row[i] - max) / total);
      if (Math.fround(cum) <= limit) row[i] = Number.NEGATIVE_INFINITY;
      else break; // cumulative sums only grow
    }
  }
}

/**
 * Indices of `row` by ascending value, equal values by ascending index (a
 * stable sort). Float32 rows (the sampler's) sort one float64 key per entry
 * natively: the float32's bits mapped to an order-preserving integer (−0 as
 * +0), times V, plus the index — exact while 2³² · V < 2⁵³, the same order
 * as the comparator sort, about 10× faster. Other rows use the comparator.
 */
export function ascendingOrder(row: Float32Array | Float64Array): Int32Array {
  const V = row.length;
  const order = new Int32Array(V);
  if (!(row instanceof Float32Array) || V > 2 ** 21) {
    const idx = Array.from({ length: V }, (_, i) => i).sort((a, b) => row[a] - row[b] || a - b);
    order.set(idx);
    return order;
  }
  const bits = new Uint32Array(row.buffer, row.byteOffset, V);
  const keys = new Float64Array(V);
  for (let i = 0; i < V; i++) {
    const b = bits[i] === 0x80000000 ? 0 : bits[i]; // −0 sorts with +0
    const ordered = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0; // negatives reversed below positives
    keys[i] = ordered * V + i;
  }
  keys.sort();
  for (let j = 0; j < V; j++) order[j] = keys[j] % V;
  return order;
}

function kthLargest(row: ArrayLike<number>, k: number): number {
  const sorted = Float64Array.from(row).sort();
  return sorted[sorted.length - k];
}

/** Softmax probabilities of one row (float64). */
export function softmax(row: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  const p = new Float64Array(row.length);
  let total = 0;
  for (let i = 0; i < row.length; i++) total += p[i] = Math.exp(row[i] - max);
  for (let i = 0; i < row.length; i++) p[i] /= total;
  return p;
}

/** One draw from the softmax of `row` (removed entries have probability 0). */
export function sampleRow(row: ArrayLike<number>, rng: Random): number {
  const p = softmax(row);
  const u = rng.random();
  let cum = 0;
  let last = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    last = i;
    cum += p[i];
    if (u < cum) return i;
  }
  return last; // u fell in the rounding gap above the last cumulative sum
}

/** Index of the largest logit (first on ties), as argmax. */
export function argmaxRow(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/**
 * Filter and draw for every row of a (rows × V) logits buffer. With
 * `topK === 1` the draw is the argmax (greedy, no randomness consumed).
 * `rng`: one generator for every row, or one per group of rows (per image:
 * B generators for B·l rows; row r draws from `rng[⌊r / l⌋]`).
 */
export function sampleTokens(logits: Float32Array, V: number, opts: FilterOptions, rng: Random | readonly Random[]): Int32Array {
  validateFilter(opts);
  const rows = logits.length / V;
  if (!Number.isInteger(rows)) throw new RangeError(`logits length ${logits.length} is not a multiple of V=${V}`);
  const rngs = Array.isArray(rng) ? (rng as readonly Random[]) : [rng as Random];
  const per = rows / rngs.length;
  if (!Number.isInteger(per)) throw new RangeError(`${rows} rows do not split evenly over ${rngs.length} generators`);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = logits.slice(r * V, (r + 1) * V);
    if (opts.topK === 1) {
      out[r] = argmaxRow(row);
      continue;
    }
    filterTopKTopP(row, opts);
    out[r] = sampleRow(row, rngs[Math.floor(r / per)]);
  }
  return out;
}
