/**
 * The float64 dense linear algebra the Fréchet distance needs, in plain
 * JavaScript (tfjs has no float64): a pivoted Cholesky factorisation that
 * reveals the rank of a positive semi-definite matrix (LAPACK `dpstrf`), the
 * congruence Lᵀ·S·L, Householder reduction of a symmetric matrix to
 * tridiagonal form (LAPACK `dsytd2`) and the eigenvalues of a symmetric
 * tridiagonal matrix by implicit QL with Wilkinson shifts.
 *
 * Matrices are row-major `Float64Array`s. The loops are arranged so that the
 * innermost one runs over contiguous memory (dot products of row segments,
 * 2×2 register blocks), which is what V8 turns into fast code. Two 2048-d
 * inputs take about 7 s on one core (`bench/frechet.bench.mjs`), a fraction
 * of a per mille of the Inception pass that makes an FID's statistics.
 * (Hand-assembled WebAssembly SIMD kernels for the innermost loops measured
 * 1.8× faster here, about 3 s saved per FID, and were removed as not worth
 * their 371 lines.)
 */

/** Machine epsilon of float64. */
const EPS = 2 ** -52;

export interface PivotedCholesky {
  /** Lᵀ as a (rank × n) row-major matrix: Lt[a, k] is zero for k < a. */
  Lt: Float64Array;
  /** The symmetric permutation: row/column i of P·A·Pᵀ is row/column perm[i] of A. */
  perm: Int32Array;
  /** Numerical rank: pivots below `tol` end the factorisation. */
  rank: number;
}

/**
 * Pivoted Cholesky of a symmetric positive semi-definite matrix (n × n):
 * P·A·Pᵀ = L·Lᵀ with L (n × rank) lower trapezoidal. Each step takes the
 * largest remaining diagonal as pivot and stops when it is at most `tol`
 * (default n·ε·max diag A, LAPACK's choice), so a rank-deficient covariance
 * (fewer samples than dimensions) factors cleanly instead of failing.
 * `A` is not modified.
 */
export function pivotedCholesky(A: Float64Array, n: number, tol?: number, block = 48): PivotedCholesky {
  const a = Float64Array.from(A); // lower triangle is used and overwritten by L
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const d = new Float64Array(n); // current diagonal of the Schur complement
  let maxDiag = 0;
  for (let i = 0; i < n; i++) {
    d[i] = a[i * n + i];
    if (d[i] > maxDiag) maxDiag = d[i];
  }
  const stop = tol ?? n * EPS * maxDiag;
  let rank = n;
  outer: for (let k0 = 0; k0 < n; k0 += block) {
    const k1 = Math.min(n, k0 + block);
    for (let j = k0; j < k1; j++) {
      let p = j;
      for (let i = j + 1; i < n; i++) if (d[i] > d[p]) p = i;
      if (!(d[p] > stop)) {
        rank = j; // columns < j of L are complete; the rest is discarded
        break outer;
      }
      if (p !== j) symmetricSwap(a, d, perm, n, j, p);
      const ljj = Math.sqrt(d[j]);
      const rj = j * n;
      a[rj + j] = ljj;
      // column j below the diagonal: subtract this panel's earlier columns
      for (let i = j + 1; i < n; i++) {
        const ri = i * n;
        let s = a[ri + j];
        for (let m = k0; m < j; m++) s -= a[ri + m] * a[rj + m];
        const l = s / ljj;
        a[ri + j] = l;
        d[i] -= l * l;
      }
    }
    trailingUpdate(a, n, k0, k1, k1);
  }
  // Lᵀ: rank rows, row a holds column a of L from the diagonal down
  const Lt = new Float64Array(rank * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const m = Math.min(i + 1, rank);
    for (let c = 0; c < m; c++) Lt[c * n + i] = a[ri + c];
  }
  return { Lt, perm, rank };
}

/** A[i, l] -= Σ_{m∈[k0,k1)} A[i, m]·A[l, m] for from ≤ l ≤ i (lower triangle of the trailing block). */
function trailingUpdate(a: Float64Array, n: number, k0: number, k1: number, from: number): void {
  if (k1 <= k0) return;
  for (let i = from; i < n; i += 2) {
    const r0 = i * n;
    const two = i + 1 < n;
    const r1 = two ? r0 + n : r0;
    let l = from;
    for (; l + 1 <= i; l += 2) {
      const q0 = l * n;
      const q1 = q0 + n;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let m = k0; m < k1; m++) {
        const x0 = a[r0 + m];
        const x1 = a[r1 + m];
        const y0 = a[q0 + m];
        const y1 = a[q1 + m];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      a[r0 + l] -= s00;
      a[r0 + l + 1] -= s01;
      if (two) {
        a[r1 + l] -= s10;
        a[r1 + l + 1] -= s11;
      }
    }
    // the remaining diagonal column(s): l == i (and l == i + 1 for row i + 1)
    for (; l <= i + (two ? 1 : 0); l++) {
      const q = l * n;
      if (l <= i) {
        let s = 0;
        for (let m = k0; m < k1; m++) s += a[r0 + m] * a[q + m];
        a[r0 + l] -= s;
      }
      if (two) {
        let s = 0;
        for (let m = k0; m < k1; m++) s += a[r1 + m] * a[q + m];
        a[r1 + l] -= s;
      }
    }
  }
}

/** Swap index j < p symmetrically in a lower-stored matrix (LAPACK `dsyswapr`), with the factor rows, d and perm. */
function symmetricSwap(a: Float64Array, d: Float64Array, perm: Int32Array, n: number, j: number, p: number): void {
  const rj = j * n;
  const rp = p * n;
  let t: number;
  for (let m = 0; m < j; m++) {
    t = a[rj + m];
    a[rj + m] = a[rp + m];
    a[rp + m] = t;
  }
  t = a[rj + j];
  a[rj + j] = a[rp + p];
  a[rp + p] = t;
  for (let m = j + 1; m < p; m++) {
    t = a[m * n + j];
    a[m * n + j] = a[rp + m];
    a[rp + m] = t;
  }
  for (let m = p + 1; m < n; m++) {
    const rm = m * n;
    t = a[rm + j];
    a[rm + j] = a[rm + p];
    a[rm + p] = t;
  }
  t = d[j];
  d[j] = d[p];
  d[p] = t;
  const q = perm[j];
  perm[j] = perm[p];
  perm[p] = q;
}

/**
 * M = Lᵀ·(P·S·Pᵀ)·L for the factor of `pivotedCholesky` and a symmetric S
 * (n × n): the (rank × rank) symmetric matrix whose eigenvalues are those of
 * A·S (the non-zero ones). Only the lower triangle of M is written.
 */
export function congruence(f: PivotedCholesky, S: Float64Array, n: number): Float64Array {
  const { Lt, perm, rank: r } = f;
  // Sp = P·S·Pᵀ
  const Sp = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = perm[i] * n;
    const dst = i * n;
    for (let j = 0; j < n; j++) Sp[dst + j] = S[src + perm[j]];
  }
  // Wt = Lᵀ·Sp (r × n): Wt[b, i] = Σ_{k≥b} Lt[b, k]·Sp[i, k]
  const Wt = new Float64Array(r * n);
  dotRows(Lt, Sp, Wt, n, r, n);
  // M[a, b] = Σ_{k≥a} Lt[a, k]·Wt[b, k] for b ≤ a
  const M = new Float64Array(r * r);
  for (let a0 = 0; a0 < r; a0 += 2) {
    const two = a0 + 1 < r;
    const ra0 = a0 * n;
    const ra1 = two ? ra0 + n : ra0;
    const lim = two ? a0 + 1 : a0;
    for (let b = 0; b <= lim; b += 2) {
      const twoB = b + 1 <= lim;
      const rb0 = b * n;
      const rb1 = twoB ? rb0 + n : rb0;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      // Lt[a0] is zero before a0, Lt[a1] before a1 = a0 + 1: start at a0 for both
      for (let k = a0; k < n; k++) {
        const x0 = Lt[ra0 + k];
        const x1 = Lt[ra1 + k];
        const y0 = Wt[rb0 + k];
        const y1 = Wt[rb1 + k];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      if (b <= a0) M[a0 * r + b] = s00;
      if (twoB && b + 1 <= a0) M[a0 * r + b + 1] = s01;
      if (two) {
        M[(a0 + 1) * r + b] = s10;
        if (twoB) M[(a0 + 1) * r + b + 1] = s11;
      }
    }
  }
  return M;
}

/**
 * out[a, i] = Σ_{k ≥ a} X[a, k]·Y[i, k] for a < rows, i < cols, where X is
 * upper trapezoidal (zero before the diagonal) and rows have length
 * `stride`; 2×2 register blocks.
 */
function dotRows(X: Float64Array, Y: Float64Array, out: Float64Array, stride: number, rows: number, cols: number): void {
  for (let a = 0; a < rows; a += 2) {
    const two = a + 1 < rows;
    const x0r = a * stride;
    const x1r = two ? x0r + stride : x0r;
    const k0 = a; // X[a + 1] is zero before a + 1 as well
    const o0 = a * cols;
    const o1 = o0 + cols;
    for (let i = 0; i < cols; i += 2) {
      const twoI = i + 1 < cols;
      const y0r = i * stride;
      const y1r = twoI ? y0r + stride : y0r;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let k = k0; k < stride; k++) {
        const x0 = X[x0r + k];
        const x1 = X[x1r + k];
        const y0 = Y[y0r + k];
        const y1 = Y[y1r + k];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      out[o0 + i] = s00;
      if (twoI) out[o0 + i + 1] = s01;
      if (two) {
        out[o1 + i] = s10;
        if (twoI) out[o1 + i + 1] = s11;
      }
    }
  }
}

/**
 * Householder reduction of a symmetric matrix (lower triangle of `A`, n × n,
 * overwritten) to tridiagonal form Qᵀ·A·Q = T (LAPACK `dsytd2`). Returns the
 * diagonal d and the sub-diagonal e (e[i] couples i − 1 and i; e[0] is 0).
 */
export function tridiagonalize(A: Float64Array, n: number): { d: Float64Array; e: Float64Array } {
  const v = new Float64Array(n);
  const w = new Float64Array(n);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // Householder vector for column k below the diagonal: x = A[k+1.., k]
    let norm2 = 0;
    for (let i = k + 1; i < n; i++) {
      const x = A[i * n + k];
      norm2 += x * x;
    }
    d[k] = A[k * n + k];
    const x0 = A[(k + 1) * n + k];
    if (norm2 === 0 || norm2 === x0 * x0) {
      // already tridiagonal in this column
      e[k + 1] = x0;
      continue;
    }
    const alpha = x0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
    e[k + 1] = alpha;
    // v = x - alpha·e1, H = I - tau·v·vᵀ with tau = 2 / vᵀv
    for (let i = k + 1; i < n; i++) v[i] = A[i * n + k];
    v[k + 1] -= alpha;
    const vtv = norm2 - 2 * alpha * x0 + alpha * alpha;
    const tau = 2 / vtv;
    // w = tau·A22·v (symmetric, lower triangle)
    const s = k + 1;
    symvLower(A, n, s, v, w);
    let wv = 0;
    for (let i = s; i < n; i++) {
      w[i] *= tau;
      wv += w[i] * v[i];
    }
    // w ← w − (tau·wᵀv/2)·v, then A22 ← A22 − v·wᵀ − w·vᵀ
    const c = (tau * wv) / 2;
    for (let i = s; i < n; i++) w[i] -= c * v[i];
    syr2Lower(A, n, s, v, w);
  }
  if (n >= 2) {
    d[n - 2] = A[(n - 2) * n + n - 2];
    e[n - 1] = A[(n - 1) * n + n - 2];
  }
  if (n >= 1) d[n - 1] = A[(n - 1) * n + n - 1];
  return { d, e };
}

/** w[s..n) = A[s.., s..]·v for the symmetric matrix stored in the lower triangle of A. */
function symvLower(A: Float64Array, n: number, s: number, v: Float64Array, w: Float64Array): void {
  for (let i = s; i < n; i++) w[i] = 0;
  let i = s;
  for (; i + 1 < n; i += 2) {
    const r0 = i * n;
    const r1 = r0 + n;
    const v0 = v[i];
    const v1 = v[i + 1];
    let acc0 = 0;
    let acc1 = 0;
    for (let j = s; j < i; j++) {
      const a0 = A[r0 + j];
      const a1 = A[r1 + j];
      const vj = v[j];
      acc0 += a0 * vj;
      acc1 += a1 * vj;
      w[j] += a0 * v0 + a1 * v1;
    }
    const a10 = A[r1 + i];
    w[i] += acc0 + A[r0 + i] * v0 + a10 * v1;
    w[i + 1] += acc1 + a10 * v0 + A[r1 + i + 1] * v1;
  }
  if (i < n) {
    const r0 = i * n;
    const v0 = v[i];
    let acc0 = 0;
    for (let j = s; j < i; j++) {
      const a0 = A[r0 + j];
      acc0 += a0 * v[j];
      w[j] += a0 * v0;
    }
    w[i] += acc0 + A[r0 + i] * v0;
  }
}

/** A ← A − v·wᵀ − w·vᵀ on the lower triangle of the trailing block [s.., s..], two rows at a time. */
function syr2Lower(A: Float64Array, n: number, s: number, v: Float64Array, w: Float64Array): void {
  let i = s;
  for (; i + 1 < n; i += 2) {
    const r0 = i * n;
    const r1 = r0 + n;
    const v0 = v[i];
    const w0 = w[i];
    const v1 = v[i + 1];
    const w1 = w[i + 1];
    for (let j = s; j <= i; j++) {
      const wj = w[j];
      const vj = v[j];
      A[r0 + j] -= v0 * wj + w0 * vj;
      A[r1 + j] -= v1 * wj + w1 * vj;
    }
    A[r1 + i + 1] -= 2 * v1 * w1;
  }
  if (i < n) {
    const r0 = i * n;
    const v0 = v[i];
    const w0 = w[i];
    for (let j = s; j <= i; j++) A[r0 + j] -= v0 * w[j] + w0 * v[j];
  }
}

/**
 * Eigenvalues of the symmetric tridiagonal matrix with diagonal `d` and
 * sub-diagonal `e` (e[i] between i-1 and i), by implicit QL with Wilkinson
 * shifts. The inputs are overwritten; the eigenvalues are returned unsorted.
 */
export function tridiagonalEigenvalues(d: Float64Array, e: Float64Array): Float64Array {
  const n = d.length;
  const off = new Float64Array(n); // off[i] couples i and i+1
  for (let i = 1; i < n; i++) off[i - 1] = e[i];
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(off[m]) <= EPS * dd) break;
      }
      if (m === l) break;
      if (++iter > 60) throw new Error("tridiagonalEigenvalues: no convergence");
      let g = (d[l + 1] - d[l]) / (2 * off[l]);
      let r = Math.hypot(g, 1);
      g = d[m] - d[l] + off[l] / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * off[i];
        const b = c * off[i];
        r = Math.hypot(f, g);
        off[i + 1] = r;
        if (r === 0) {
          d[i + 1] -= p;
          off[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
      }
      if (r === 0 && i >= l) continue;
      d[l] -= p;
      off[l] = g;
      off[m] = 0;
    }
  }
  return d;
}

/** Eigenvalues of a symmetric matrix (lower triangle of `A`, n × n; `A` is overwritten). */
export function symmetricEigenvalues(A: Float64Array, n: number): Float64Array {
  const { d, e } = tridiagonalize(A, n);
  return tridiagonalEigenvalues(d, e);
}

/** Eigenvalues of Lᵀ·(P·S·Pᵀ)·L. */
export function congruenceEigenvalues(f: PivotedCholesky, S: Float64Array, n: number): Float64Array {
  return symmetricEigenvalues(congruence(f, S, n), f.rank);
}
