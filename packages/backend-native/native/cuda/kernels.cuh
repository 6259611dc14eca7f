// The CUDA device's kernel bodies, written once as functions of a global
// index (one output element or one row), compiled by nvcc for the GPU
// (device.cu launches them in grid-stride loops on one stream) and by g++
// for the host emulation (emulate.cc runs the same bodies as loops over the
// grid). Float32 only; shapes are row-major, at most NS_MAX_RANK dims.
//
// These bodies are simple on purpose (one thread per output element or row,
// no shared-memory tiling): they are the reference of the device interface,
// not tuned GPU kernels. Each is tested on the emulation against
// tfjs-backend-cpu (src/cuda/cuda.test.ts); none has run on a GPU yet.
#pragma once
#include <math.h>

#ifdef __CUDACC__
#define NS_HD __host__ __device__ inline
#else
#define NS_HD inline
#endif

#define NS_MAX_RANK 8

struct NsShape {
  int rank;
  int dims[NS_MAX_RANK];
  int a[NS_MAX_RANK];  // element strides of the first operand (0: broadcast)
  int b[NS_MAX_RANK];  // element strides of the second operand
};

// the BINARY_OPS / UNARY_OPS / REDUCE_OPS codes of src/device.ts
NS_HD float ns_binary_op(int op, float x, float y) {
  switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    case 3: return x / y;
    case 4: return isnan(x) || isnan(y) ? NAN : fmaxf(x, y);
    case 5: return isnan(x) || isnan(y) ? NAN : fminf(x, y);
    default: return (x - y) * (x - y);
  }
}

NS_HD float ns_unary_op(int op, float x) {
  switch (op) {
    case 0: return expf(x);
    case 1: return logf(x);
    case 2: return -x;
    case 3: return sqrtf(x);
    case 4: return 1.f / sqrtf(x);
    case 5: return x * x;
    case 6: return x > 0.f ? x : (isnan(x) ? x : 0.f);
    case 7: return 1.f / (1.f + expf(-x));
    case 8: return tanhf(x);
    default: return fabsf(x);
  }
}

// out[i] = a[...] op b[...], i the row-major index into s.dims
NS_HD void ns_binary_at(long i, int op, const float* a, const float* b, float* out, const NsShape& s) {
  long r = i, ia = 0, ib = 0;
  for (int d = s.rank - 1; d >= 0; d--) {
    const long k = r % s.dims[d];
    r /= s.dims[d];
    ia += k * s.a[d];
    ib += k * s.b[d];
  }
  out[i] = ns_binary_op(op, a[ia], b[ib]);
}

NS_HD void ns_unary_at(long i, int op, const float* x, float* y) { y[i] = ns_unary_op(op, x[i]); }

// element i of s.dims: read x with strides s.a, written to y with strides s.b
// (a transpose or slice: y contiguous; one input of a concat: y the output's strides)
NS_HD void ns_strided_copy_at(long i, const float* x, float* y, const NsShape& s) {
  long r = i, ix = 0, iy = 0;
  for (int d = s.rank - 1; d >= 0; d--) {
    const long k = r % s.dims[d];
    r /= s.dims[d];
    ix += k * s.a[d];
    iy += k * s.b[d];
  }
  y[iy] = x[ix];
}

// y[row] = reduction of x[row, 0..inner)
NS_HD void ns_reduce_row(long row, int op, const float* x, float* y, long inner) {
  const float* p = x + row * inner;
  float acc = op == 2 ? -INFINITY : op == 3 ? INFINITY : 0.f;
  for (long j = 0; j < inner; j++) {
    const float v = p[j];
    if (op <= 1) acc += v;
    else if (isnan(v)) acc = v;
    else if (!isnan(acc)) acc = op == 2 ? fmaxf(acc, v) : fminf(acc, v);
  }
  y[row] = op == 1 ? acc / (float)inner : acc;
}

NS_HD void ns_softmax_row(long row, const float* x, float* y, long n) {
  const float* p = x + row * n;
  float* q = y + row * n;
  float m = -INFINITY;
  for (long j = 0; j < n; j++) m = fmaxf(m, p[j]);
  float sum = 0.f;
  for (long j = 0; j < n; j++) sum += (q[j] = expf(p[j] - m));
  const float inv = 1.f / sum;
  for (long j = 0; j < n; j++) q[j] *= inv;
}

// C[bt, i, j] = Σk op(A)[i, k] op(B)[k, j]; one output element per index; a batch of 1 broadcasts
NS_HD void ns_matmul_at(long idx, const float* A, const float* B, float* C, long batchA, long batchB, long M, long N, long K, bool tA,
                        bool tB) {
  const long j = idx % N, i = (idx / N) % M, bt = idx / (M * N);
  const float* a = A + (batchA == 1 ? 0 : bt) * M * K;
  const float* b = B + (batchB == 1 ? 0 : bt) * K * N;
  float acc = 0.f;
  for (long k = 0; k < K; k++) acc += (tA ? a[k * M + i] : a[i * K + k]) * (tB ? b[j * K + k] : b[k * N + j]);
  C[idx] = acc;
}

// LN(x)·(1 + scale) + shift over C, one token row (B·L rows; scale and shift per batch entry)
NS_HD void ns_ada_ln_row(long r, const float* x, const float* scale, const float* shift, float* y, long L, long C, float eps) {
  const float* p = x + r * C;
  const float* s = scale + (r / L) * C;
  const float* t = shift + (r / L) * C;
  float mean = 0.f;
  for (long c = 0; c < C; c++) mean += p[c];
  mean /= (float)C;
  float var = 0.f;
  for (long c = 0; c < C; c++) var += (p[c] - mean) * (p[c] - mean);
  const float rstd = 1.f / sqrtf(var / (float)C + eps);
  for (long c = 0; c < C; c++) y[r * C + c] = (p[c] - mean) * rstd * (1.f + s[c]) + t[c];
}

// softmax(scale·q·kᵀ)·v for one query row r of (BH, Lq): one pass with a running max
// (online softmax), accumulating in the output row, so it needs no scratch memory
NS_HD void ns_kv_attention_row(long r, const float* q, const float* k, const float* v, float* o, long Lq, long Lk, long c, float scale) {
  const long h = r / Lq;
  const float* qi = q + r * c;
  float* oi = o + r * c;
  for (long t = 0; t < c; t++) oi[t] = 0.f;
  float m = -INFINITY, l = 0.f;
  for (long j = 0; j < Lk; j++) {
    const float* kj = k + (h * Lk + j) * c;
    const float* vj = v + (h * Lk + j) * c;
    float d = 0.f;
    for (long t = 0; t < c; t++) d += qi[t] * kj[t];
    d *= scale;
    const float mn = fmaxf(m, d);
    const float corr = expf(m - mn), p = expf(d - mn);
    l = l * corr + p;
    for (long t = 0; t < c; t++) oi[t] = oi[t] * corr + p * vj[t];
    m = mn;
  }
  const float inv = 1.f / l;
  for (long t = 0; t < c; t++) oi[t] *= inv;
}

// GroupNorm of one (image, group) gi of (B, groups) over x (B, P, C), statistics in double
// (as the CPU device), then the affine map and optionally SiLU
NS_HD void ns_group_norm_act_group(long gi, const float* x, const float* gamma, const float* beta, float* y, long P, long C, long groups,
                                   float eps, bool silu) {
  const long b = gi / groups, g = gi % groups, cg = C / groups;
  const float* xb = x + b * P * C;
  float* yb = y + b * P * C;
  double mean = 0, var = 0;
  for (long p = 0; p < P; p++)
    for (long c = g * cg; c < (g + 1) * cg; c++) mean += xb[p * C + c];
  mean /= (double)(P * cg);
  for (long p = 0; p < P; p++)
    for (long c = g * cg; c < (g + 1) * cg; c++) var += (xb[p * C + c] - mean) * (xb[p * C + c] - mean);
  var /= (double)(P * cg);
  const float m = (float)mean, rstd = (float)(1.0 / sqrt(var + eps));
  for (long p = 0; p < P; p++)
    for (long c = g * cg; c < (g + 1) * cg; c++) {
      const float t = (xb[p * C + c] - m) * rstd * gamma[c] + beta[c];
      yb[p * C + c] = silu ? t / (1.f + expf(-t)) : t;
    }
}

// y (B, h, w, C) = Mh·X·Mwᵀ per image and channel, one output element; zero taps of mh skipped
NS_HD void ns_resample2d_at(long idx, const float* x, const float* mh, const float* mw, float* y, long H, long W, long C, long h, long w) {
  const long ch = idx % C, p = (idx / C) % w, o = (idx / (C * w)) % h, b = idx / (C * w * h);
  float s = 0.f;
  for (long i = 0; i < H; i++) {
    const float m = mh[o * H + i];
    if (m == 0.f) continue;
    float row = 0.f;
    for (long j = 0; j < W; j++) row += mw[p * W + j] * x[((b * H + i) * W + j) * C + ch];
    s += m * row;
  }
  y[idx] = s;
}

// A convolution's geometry, as src/device.ts's geom: NHWC activations, HWIO filters
struct NsConv {
  int B, H, W, Ci, Ho, Wo, Co, KH, KW, sH, sW, dH, dW, padT, padL;
};

// col (B·Ho·Wo, KH·KW·Ci)[idx] = the input value under tap (kh, kw, ci) of output pixel (b, oh, ow), 0 in the padding
NS_HD void ns_im2col_at(long idx, const float* x, float* col, const NsConv& g) {
  const long K = (long)g.KH * g.KW * g.Ci;
  const long r = idx / K, k = idx % K;
  const int ci = (int)(k % g.Ci), kw = (int)((k / g.Ci) % g.KW), kh = (int)(k / ((long)g.Ci * g.KW));
  const int ow = (int)(r % g.Wo), oh = (int)((r / g.Wo) % g.Ho);
  const long b = r / ((long)g.Wo * g.Ho);
  const int h = oh * g.sH + kh * g.dH - g.padT, w = ow * g.sW + kw * g.dW - g.padL;
  col[idx] = h < 0 || h >= g.H || w < 0 || w >= g.W ? 0.f : x[((b * g.H + h) * g.W + w) * g.Ci + ci];
}

// dx (B, H, W, Ci)[idx] = Σ over the taps that read it of dy·w (a gather: no atomics)
NS_HD void ns_conv2d_backprop_input_at(long idx, const float* dy, const float* w, float* dx, const NsConv& g) {
  const int ci = (int)(idx % g.Ci), x = (int)((idx / g.Ci) % g.W), y = (int)((idx / ((long)g.Ci * g.W)) % g.H);
  const long b = idx / ((long)g.Ci * g.W * g.H);
  float acc = 0.f;
  for (int kh = 0; kh < g.KH; kh++) {
    const int th = y + g.padT - kh * g.dH;
    if (th < 0 || th % g.sH) continue;
    const int oh = th / g.sH;
    if (oh >= g.Ho) continue;
    for (int kw = 0; kw < g.KW; kw++) {
      const int tw = x + g.padL - kw * g.dW;
      if (tw < 0 || tw % g.sW) continue;
      const int ow = tw / g.sW;
      if (ow >= g.Wo) continue;
      const float* d = dy + ((b * g.Ho + oh) * g.Wo + ow) * g.Co;
      const float* f = w + (((long)kh * g.KW + kw) * g.Ci + ci) * g.Co;
      for (int co = 0; co < g.Co; co++) acc += d[co] * f[co];
    }
  }
  dx[idx] = acc;
}
