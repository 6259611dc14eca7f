/**
 * Codebook usage and dead-code restarts for stage-1 (VQ-VAE) training.
 *
 * The multi-scale quantizer shares one codebook over all K scales, and its
 * coarse scales (1×1 … 3×3) see a handful of cells per image: in practice a
 * few codes win there and the rest of the codebook is never picked at those
 * scales (codebook collapse, as users of the official code report). This
 * module keeps, in plain JS arrays (no tensors), per scale:
 *
 * - the codes picked over the last `window` steps (a ring of each step's
 *   indices and running counts), giving perplexity exp(H) of the window's
 *   code distribution and the number of codes not picked in the window;
 * - a reservoir of recent quantizer inputs (the residual each scale
 *   quantizes: Algorithm R over the rows seen, `reservoirSize` rows per
 *   scale, drawn with the seeded core `Random`).
 *
 * A code is dead when no scale has picked it for `deadAfter` steps; a
 * restart sets each dead code to a reservoir row (a scale drawn uniformly,
 * so the coarse scales' residuals, with few rows per step, get as many
 * restarts as the fine ones) and marks it used now, so it has `deadAfter`
 * steps to be picked. The whole state is plain data for a checkpoint.
 */
import type { Random } from "@nextscale/core";

export interface CodebookOptions {
  /** Codebook entries V. */
  vocabSize: number;
  /** Code width Cvae. */
  dim: number;
  /** Number of scales K. */
  scales: number;
  /** Steps over which usage is counted (default 100). */
  window?: number;
  /** A code unused by every scale for this many steps is restarted (default 100). */
  deadAfter?: number;
  /** Rows kept per scale for restarts (default 1024). */
  reservoirSize?: number;
}

/** Per-scale figures over the window of steps, coarse to fine. */
export interface ScaleUsage {
  /** exp(entropy) of the codes picked in the window (1 … V; V = uniform use). */
  perplexity: number;
  /** Codes not picked at this scale in the window. */
  unused: number;
}

export interface CodebookState {
  step: number;
  /** Last step each code was picked (at any scale), −1 never. Int32 (V). */
  lastUsed: Int32Array;
  /** The window: per step (oldest first) and scale, the indices picked, concatenated with `lengths`. */
  windowIndices: Int32Array;
  /** Per window entry and scale (steps × K), how many indices it holds. */
  windowLengths: Int32Array;
  /** Reservoir rows per scale, (K, reservoirSize, dim) float32, the first `reservoirFill[k]` valid. */
  reservoir: Float32Array;
  reservoirFill: Int32Array;
  /** Rows offered to each scale's reservoir so far (Algorithm R's n), as float64 (may pass 2^31). */
  reservoirSeen: Float64Array;
  restarts: number;
}

export class CodebookMonitor {
  readonly vocabSize: number;
  readonly dim: number;
  readonly scales: number;
  readonly window: number;
  readonly deadAfter: number;
  readonly reservoirSize: number;
  /** Steps recorded. */
  step = 0;
  /** Total codes restarted. */
  restarts = 0;
  private lastUsed: Int32Array;
  private ring: Int32Array[][] = [];
  private counts: Int32Array[];
  private reservoir: Float32Array;
  private fill: Int32Array;
  private seen: Float64Array;

  constructor(opts: CodebookOptions) {
    this.vocabSize = opts.vocabSize;
    this.dim = opts.dim;
    this.scales = opts.scales;
    this.window = opts.window ?? 100;
    this.deadAfter = opts.deadAfter ?? 100;
    this.reservoirSize = opts.reservoirSize ?? 1024;
    for (const k of ["window", "deadAfter", "reservoirSize"] as const) {
      if (!(Number.isInteger(this[k]) && this[k] > 0)) throw new RangeError(`CodebookMonitor: ${k} must be a positive integer (got ${this[k]})`);
    }
    this.lastUsed = new Int32Array(this.vocabSize).fill(-1);
    this.counts = Array.from({ length: this.scales }, () => new Int32Array(this.vocabSize));
    this.reservoir = new Float32Array(this.scales * this.reservoirSize * this.dim);
    this.fill = new Int32Array(this.scales);
    this.seen = new Float64Array(this.scales);
  }

  /**
   * Record one step: each scale's picked codes (B·pn²) and, for the
   * reservoir, the rows they were picked for ((B·pn²)·dim, row-major).
   * `rng` draws the reservoir's replacements.
   */
  record(indices: ArrayLike<number>[], inputs: Float32Array[] | undefined, rng: Random): void {
    if (indices.length !== this.scales) throw new Error(`CodebookMonitor: expected ${this.scales} scales, got ${indices.length}`);
    const entry = indices.map((idx) => Int32Array.from(idx));
    entry.forEach((idx, k) => {
      const c = this.counts[k];
      for (const v of idx) {
        c[v]++;
        this.lastUsed[v] = this.step;
      }
    });
    this.ring.push(entry);
    if (this.ring.length > this.window) {
      const old = this.ring.shift()!;
      old.forEach((idx, k) => {
        for (const v of idx) this.counts[k][v]--;
      });
    }
    if (inputs) {
      for (let k = 0; k < inputs.length; k++) this.offer(k, inputs[k], rng);
    }
    this.step++;
  }

  private offer(k: number, rows: Float32Array, rng: Random): void {
    const D = this.dim;
    const R = this.reservoirSize;
    const base = k * R * D;
    for (let i = 0; i * D < rows.length; i++) {
      const n = this.seen[k]++;
      let slot: number;
      if (n < R) slot = n;
      else {
        const j = Math.floor(rng.random() * (n + 1));
        if (j >= R) continue;
        slot = j;
      }
      this.reservoir.set(rows.subarray(i * D, i * D + D), base + slot * D);
      if (slot >= this.fill[k]) this.fill[k] = slot + 1;
    }
  }

  /** Per scale, perplexity and unused codes over the window. */
  usage(): ScaleUsage[] {
    return this.counts.map((c) => {
      let total = 0;
      let unused = 0;
      for (const n of c) {
        total += n;
        if (n === 0) unused++;
      }
      let h = 0;
      if (total > 0) {
        for (const n of c) {
          if (n > 0) {
            const p = n / total;
            h -= p * Math.log(p);
          }
        }
      }
      return { perplexity: total > 0 ? Math.exp(h) : 0, unused };
    });
  }

  /** Codes no scale has picked in the last `deadAfter` recorded steps. */
  deadCodes(): number[] {
    const out: number[] = [];
    for (let v = 0; v < this.vocabSize; v++) if (this.step - 1 - this.lastUsed[v] >= this.deadAfter) out.push(v);
    return out;
  }

  /**
   * New rows for the dead codes: for each, a reservoir row of a scale drawn
   * uniformly among those with rows. Marks them used at the last step.
   * Returns the codes and their rows ((codes·dim) float32); none when the
   * reservoir is empty.
   */
  restart(rng: Random): { codes: number[]; rows: Float32Array } {
    const dead = this.deadCodes();
    const withRows = [...this.fill.keys()].filter((k) => this.fill[k] > 0);
    if (!dead.length || !withRows.length) return { codes: [], rows: new Float32Array(0) };
    const D = this.dim;
    const rows = new Float32Array(dead.length * D);
    dead.forEach((v, i) => {
      const k = withRows[rng.int(withRows.length)];
      const r = rng.int(this.fill[k]);
      const at = (k * this.reservoirSize + r) * D;
      rows.set(this.reservoir.subarray(at, at + D), i * D);
      this.lastUsed[v] = this.step - 1;
    });
    this.restarts += dead.length;
    return { codes: dead, rows };
  }

  state(): CodebookState {
    const lengths = new Int32Array(this.ring.length * this.scales);
    for (let s = 0; s < this.ring.length; s++) {
      for (let k = 0; k < this.scales; k++) lengths[s * this.scales + k] = this.ring[s][k].length;
    }
    const all = new Int32Array(lengths.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const e of this.ring) {
      for (const idx of e) {
        all.set(idx, at);
        at += idx.length;
      }
    }
    return {
      step: this.step,
      lastUsed: this.lastUsed.slice(),
      windowIndices: all,
      windowLengths: lengths,
      reservoir: this.reservoir.slice(),
      reservoirFill: this.fill.slice(),
      reservoirSeen: this.seen.slice(),
      restarts: this.restarts,
    };
  }

  loadState(s: CodebookState): void {
    if (s.lastUsed.length !== this.vocabSize || s.reservoir.length !== this.reservoir.length || s.windowLengths.length % this.scales) {
      throw new Error(`CodebookMonitor.loadState: the state is for another codebook (V ${s.lastUsed.length}, reservoir ${s.reservoir.length} values)`);
    }
    this.step = s.step;
    this.restarts = s.restarts;
    this.lastUsed = Int32Array.from(s.lastUsed);
    this.reservoir = Float32Array.from(s.reservoir);
    this.fill = Int32Array.from(s.reservoirFill);
    this.seen = Float64Array.from(s.reservoirSeen);
    this.ring = [];
    this.counts = Array.from({ length: this.scales }, () => new Int32Array(this.vocabSize));
    let at = 0;
    for (let st = 0; st < s.windowLengths.length / this.scales; st++) {
      const e: Int32Array[] = [];
      for (let k = 0; k < this.scales; k++) {
        const n = s.windowLengths[st * this.scales + k];
        const idx = Int32Array.from(s.windowIndices.subarray(at, at + n));
        at += n;
        for (const v of idx) this.counts[k][v]++;
        e.push(idx);
      }
      this.ring.push(e);
    }
  }
}
