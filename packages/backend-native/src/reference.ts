/**
 * Simple references for the device's kernels: plain loops in float64, one
 * per kernel, that kernels.test.ts checks the device against (llm.c's
 * CPU reference beside each fast kernel). Row-major, NHWC, HWIO.
 */

/** C (batch, M, N) = op(A)·op(B), batches of 1 broadcast. */
export function matmulRef(a: Float32Array, b: Float32Array, batchA: number, batchB: number, M: number, N: number, K: number, tA: boolean, tB: boolean): Float64Array {
  const batch = Math.max(batchA, batchB);
  const c = new Float64Array(batch * M * N);
  for (let i = 0; i < batch; i++) {
    const oa = (batchA === 1 ? 0 : i) * M * K;
    const ob = (batchB === 1 ? 0 : i) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[oa + (tA ? k * M + m : m * K + k)] * b[ob + (tB ? n * K + k : k * N + n)];
        c[(i * M + m) * N + n] = s;
      }
    }
  }
  return c;
}

/** geom as the device takes it: [B, H, W, Ci, Ho, Wo, Co, KH, KW, sh, sw, dh, dw, pt, pl]. */
export function conv2dRef(g: Int32Array, x: Float32Array, w: Float32Array): Float64Array {
  const [B, H, W, Ci, Ho, Wo, Co, KH, KW, sh, sw, dh, dw, pt, pl] = g;
  const y = new Float64Array(B * Ho * Wo * Co);
  for (let b = 0; b < B; b++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++)
        for (let co = 0; co < Co; co++) {
          let s = 0;
          for (let i = 0; i < KH; i++)
            for (let j = 0; j < KW; j++) {
              const iy = oy * sh - pt + i * dh;
              const ix = ox * sw - pl + j * dw;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              for (let ci = 0; ci < Ci; ci++) s += x[((b * H + iy) * W + ix) * Ci + ci] * w[((i * KW + j) * Ci + ci) * Co + co];
            }
          y[((b * Ho + oy) * Wo + ox) * Co + co] = s;
        }
  return y;
}

/** LN(x)·(1 + scale) + shift over x (B, L, C), scale and shift (B, 1, C). */
export function adaLNModulateRef(x: Float32Array, scale: Float32Array, shift: Float32Array, B: number, L: number, C: number, eps: number): Float64Array {
  const y = new Float64Array(B * L * C);
  for (let r = 0; r < B * L; r++) {
    const b = Math.floor(r / L);
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c] / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2 / C;
    for (let c = 0; c < C; c++) y[r * C + c] = ((x[r * C + c] - mean) / Math.sqrt(v + eps)) * (1 + scale[b * C + c]) + shift[b * C + c];
  }
  return y;
}

/** softmax(scale·q·kᵀ)·v per (image, head). */
export function kvAttentionRef(q: Float32Array, k: Float32Array, v: Float32Array, BH: number, Lq: number, Lk: number, c: number, scale: number): Float64Array {
  const o = new Float64Array(BH * Lq * c);
  const s = new Float64Array(Lk);
  for (let h = 0; h < BH; h++)
    for (let i = 0; i < Lq; i++) {
      let m = -Infinity;
      for (let j = 0; j < Lk; j++) {
        let d = 0;
        for (let t = 0; t < c; t++) d += q[(h * Lq + i) * c + t] * k[(h * Lk + j) * c + t];
        s[j] = d * scale;
        m = Math.max(m, s[j]);
      }
      let z = 0;
      for (let j = 0; j < Lk; j++) z += s[j] = Math.exp(s[j] - m);
      for (let j = 0; j < Lk; j++)
        for (let t = 0; t < c; t++) o[(h * Lq + i) * c + t] += (s[j] / z) * v[(h * Lk + j) * c + t];
    }
  return o;
}

/** GroupNorm over x (B, P, C) in `groups` channel groups, the affine map, then optionally SiLU. */
export function groupNormActRef(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, B: number, P: number, C: number, groups: number, eps: number, silu: boolean): Float64Array {
  const y = new Float64Array(B * P * C);
  const cg = C / groups;
  for (let b = 0; b < B; b++)
    for (let g = 0; g < groups; g++) {
      let mean = 0;
      for (let p = 0; p < P; p++) for (let c = g * cg; c < (g + 1) * cg; c++) mean += x[(b * P + p) * C + c];
      mean /= P * cg;
      let v = 0;
      for (let p = 0; p < P; p++) for (let c = g * cg; c < (g + 1) * cg; c++) v += (x[(b * P + p) * C + c] - mean) ** 2;
      v /= P * cg;
      for (let p = 0; p < P; p++)
        for (let c = g * cg; c < (g + 1) * cg; c++) {
          const i = (b * P + p) * C + c;
          const t = ((x[i] - mean) / Math.sqrt(v + eps)) * gamma[c] + beta[c];
          y[i] = silu ? t / (1 + Math.exp(-t)) : t;
        }
    }
  return y;
}

/**
 * GroupNormAct's gradient by float64 central differences of
 * L = Σ dy·groupNormActRef(x, gamma, beta) (independent of the analytic
 * formula the kernels use): dx, dgamma, dbeta.
 */
export function groupNormActGradRef(x: Float32Array, gamma: Float32Array, beta: Float32Array, dy: Float32Array, B: number, P: number, C: number, groups: number, eps: number, silu: boolean): Float64Array[] {
  const xs = Float64Array.from(x);
  const gs = Float64Array.from(gamma);
  const bs = Float64Array.from(beta);
  const loss = () => groupNormActRef(xs, gs, bs, B, P, C, groups, eps, silu).reduce((s, y, i) => s + y * dy[i], 0);
  const h = 1e-5;
  const diff = (a: Float64Array) =>
    a.map((v, i) => {
      a[i] = v + h;
      const up = loss();
      a[i] = v - h;
      const down = loss();
      a[i] = v;
      return (up - down) / (2 * h);
    });
  return [diff(xs), diff(gs), diff(bs)];
}

/** GELU with the tanh approximation in float64: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanhRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
}

/** Its gradient times dy by float64 central differences (independent of the analytic formula the kernel uses). */
export function geluTanhGradRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const h = 1e-6;
  return Float64Array.from(x, (v, i) => (dy[i] * (geluTanhRef([v + h])[0] - geluTanhRef([v - h])[0])) / (2 * h));
}

/** Y = Mh·X·Mwᵀ per image and channel: x (B, H, W, C), mh (h, H), mw (w, W). */
export function resample2dRef(x: Float32Array, mh: Float32Array, mw: Float32Array, B: number, H: number, W: number, C: number, h: number, w: number): Float64Array {
  const y = new Float64Array(B * h * w * C);
  for (let b = 0; b < B; b++)
    for (let o = 0; o < h; o++)
      for (let p = 0; p < w; p++)
        for (let ch = 0; ch < C; ch++) {
          let s = 0;
          for (let i = 0; i < H; i++) {
            const m = mh[o * H + i];
            if (m === 0) continue;
            for (let j = 0; j < W; j++) s += m * mw[p * W + j] * x[((b * H + i) * W + j) * C + ch];
          }
          y[((b * h + o) * w + p) * C + ch] = s;
        }
  return y;
}
