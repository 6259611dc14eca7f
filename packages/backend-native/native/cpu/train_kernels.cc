// The training kernels of @nextscale/contract (TRAINING_KERNELS): GroupNormAct's gradient, GELU (tanh)
// and its gradient, and one AdamW step, each one or three passes over its tensors instead of tens of
// element-wise kernels.
#include <cmath>
#include <vector>

#include "kernels.h"

// AdamW must round each operation as the plain ops do (one product, then the sum): no contraction into FMAs
#pragma GCC optimize("fp-contract=off")

namespace ns {

// pixels summed in float32 before a float64 accumulator takes the block's sum
static constexpr long BLOCK = 64;

// one pixel's channels: g = dL/d(affine output) (through silu'(y) = σ(y)·(1 + y·(1 − σ(y))) when SILU), kept
// in gp, and the per-channel sums of dn = g·gamma, dn·n, g·n and g; SILU a template argument so that the
// loop has no branch and vectorises
template <bool SILU>
static inline void grad_row(const float* __restrict xp, const float* __restrict dp, float* __restrict gp, const float* __restrict mu,
                            const float* __restrict r, const float* __restrict gamma, const float* __restrict beta, float* __restrict f1,
                            float* __restrict f2, float* __restrict f3, float* __restrict f4, int C) {
  for (int c = 0; c < C; c++) {
    const float nv = (xp[c] - mu[c]) * r[c];
    float gv = dp[c];
    if constexpr (SILU) {
      const float y = nv * gamma[c] + beta[c];
      const float s = 1.f / (1.f + fast_exp(-y));
      gv *= s * (1.f + y * (1.f - s));
    }
    gp[c] = gv;
    const float dn = gv * gamma[c];
    f1[c] += dn;
    f2[c] += dn * nv;
    f3[c] += gv * nv;
    f4[c] += gv;
  }
}

void group_norm_act_grad(const float* x, const float* gamma, const float* beta, const float* dy, float* dx, float* dgamma,
                         float* dbeta, int B, long P, int C, int groups, float eps, bool silu) {
  const int cg = C / groups;
  const double n = static_cast<double>(P) * cg;
  // per image: statistics (two passes, float64 across pixels as the forward kernel), then the sums of dn and
  // dn·n per group and of g·n and g per channel (per channel in the pixel loop, so that it vectorises; folded
  // into groups after), then dx; dgamma and dbeta summed over the images in order
  std::vector<double> pg(static_cast<size_t>(B) * C), pb(static_cast<size_t>(B) * C);
  parallel_for(B, [&](long b0, long b1) {
    std::vector<double> c1(C), c2(C);
    std::vector<float> mu(C), r(C), k1(C), k2(C), gbuf(static_cast<size_t>(P) * C), f1(C), f2(C), f3(C), f4(C);
    for (long b = b0; b < b1; b++) {
      const float* xb = x + b * P * C;
      const float* db = dy + b * P * C;
      float* ob = dx + b * P * C;
      double* gb = pg.data() + b * C;
      double* bb = pb.data() + b * C;
      // mean, then the variance about it, per channel then per group
      std::fill(c1.begin(), c1.end(), 0.0);
      for (long p0 = 0; p0 < P; p0 += BLOCK) {  // float32 within a block of pixels, float64 across blocks
        std::fill(f1.begin(), f1.end(), 0.f);
        for (long p = p0; p < std::min(P, p0 + BLOCK); p++)
          for (int c = 0; c < C; c++) f1[c] += xb[p * C + c];
        for (int c = 0; c < C; c++) c1[c] += f1[c];
      }
      for (int g = 0; g < groups; g++) {
        double m = 0;
        for (int c = g * cg; c < (g + 1) * cg; c++) m += c1[c];
        for (int c = g * cg; c < (g + 1) * cg; c++) mu[c] = static_cast<float>(m / n);
      }
      std::fill(c2.begin(), c2.end(), 0.0);
      for (long p0 = 0; p0 < P; p0 += BLOCK) {
        std::fill(f1.begin(), f1.end(), 0.f);
        for (long p = p0; p < std::min(P, p0 + BLOCK); p++)
          for (int c = 0; c < C; c++) {
            const float d = xb[p * C + c] - mu[c];
            f1[c] += d * d;
          }
        for (int c = 0; c < C; c++) c2[c] += f1[c];
      }
      for (int g = 0; g < groups; g++) {
        double v = 0;
        for (int c = g * cg; c < (g + 1) * cg; c++) v += c2[c];
        for (int c = g * cg; c < (g + 1) * cg; c++) r[c] = static_cast<float>(1.0 / std::sqrt(v / n + eps));
      }
      // g = dL/d(affine output), kept for the last pass; silu'(y) = σ(y)·(1 + y·(1 − σ(y)))
      std::fill(c1.begin(), c1.end(), 0.0);
      std::fill(c2.begin(), c2.end(), 0.0);
      std::fill(gb, gb + C, 0.0);
      std::fill(bb, bb + C, 0.0);
      for (long p0 = 0; p0 < P; p0 += BLOCK) {
        std::fill(f1.begin(), f1.end(), 0.f);
        std::fill(f2.begin(), f2.end(), 0.f);
        std::fill(f3.begin(), f3.end(), 0.f);
        std::fill(f4.begin(), f4.end(), 0.f);
        for (long p = p0; p < std::min(P, p0 + BLOCK); p++) {
          const float* xp = xb + p * C;
          const float* dp = db + p * C;
          float* gp = gbuf.data() + p * C;
          if (silu)
            grad_row<true>(xp, dp, gp, mu.data(), r.data(), gamma, beta, f1.data(), f2.data(), f3.data(), f4.data(), C);
          else
            grad_row<false>(xp, dp, gp, mu.data(), r.data(), gamma, beta, f1.data(), f2.data(), f3.data(), f4.data(), C);
        }
        for (int c = 0; c < C; c++) {
          c1[c] += f1[c];
          c2[c] += f2[c];
          gb[c] += f3[c];
          bb[c] += f4[c];
        }
      }
      // dx = r·(dn − mean(dn) − n·mean(dn·n)) over each group
      for (int g = 0; g < groups; g++) {
        double s1 = 0, s2 = 0;
        for (int c = g * cg; c < (g + 1) * cg; c++) {
          s1 += c1[c];
          s2 += c2[c];
        }
        for (int c = g * cg; c < (g + 1) * cg; c++) {
          k1[c] = static_cast<float>(s1 / n);
          k2[c] = static_cast<float>(s2 / n);
        }
      }
      for (long p = 0; p < P; p++) {
        const float* xp = xb + p * C;
        const float* gp = gbuf.data() + p * C;
        float* op = ob + p * C;
        for (int c = 0; c < C; c++) {
          const float nv = (xp[c] - mu[c]) * r[c];
          op[c] = r[c] * (gp[c] * gamma[c] - k1[c] - nv * k2[c]);
        }
      }
    }
  });
  for (int c = 0; c < C; c++) {
    double sg = 0, sb = 0;
    for (int b = 0; b < B; b++) {
      sg += pg[static_cast<size_t>(b) * C + c];
      sb += pb[static_cast<size_t>(b) * C + c];
    }
    dgamma[c] = static_cast<float>(sg);
    dbeta[c] = static_cast<float>(sb);
  }
}

// GELU (tanh approximation) as core's plain ops compute it, each operation rounded alone (no FMAs):
// 2z = c2·(x + a·(x·x²)), y = x·sigmoid(2z); sigmoid with fast_exp, as the device's Sigmoid kernel
static constexpr float GELU_C2 = 1.5957691216057308f;  // 2·√(2/π)
static constexpr float GELU_A = 0.044715f;
static constexpr float GELU_3A = 3 * 0.044715f;

void gelu_tanh(const float* x, float* y, long n) {
  parallel_for_grain(n, 1 << 14, [&](long i0, long i1) {
    for (long i = i0; i < i1; i++) {
      const float v = x[i];
      const float x3 = v * (v * v);
      const float z2 = GELU_C2 * (v + GELU_A * x3);
      y[i] = v * (1.f / (1.f + fast_exp(-z2)));
    }
  });
}

// dx = dy·(s + x·s·(1 − s)·c2·(1 + 3a·x²)), s = sigmoid(c2·x·(1 + a·x²)): core's plain-ops gradient, one pass
void gelu_tanh_grad(const float* x, const float* dy, float* dx, long n) {
  parallel_for_grain(n, 1 << 14, [&](long i0, long i1) {
    for (long i = i0; i < i1; i++) {
      const float v = x[i];
      const float x2 = v * v;
      const float s = 1.f / (1.f + fast_exp(-(GELU_C2 * (v * (1.f + GELU_A * x2)))));
      const float dz2 = GELU_C2 * (1.f + GELU_3A * x2);
      dx[i] = dy[i] * (s + (v * (s * (1.f - s))) * dz2);
    }
  });
}

void adamw_update(const float* p, const float* grad, const float* m, const float* v, const float* gradScale, float* po, float* mo,
                  float* vo, long n, const AdamWConsts& k) {
  const float gs = gradScale ? *gradScale : 1.f;
  parallel_for_grain(n, 1 << 14, [&](long i0, long i1) {
    for (long i = i0; i < i1; i++) {
      const float g = gradScale ? grad[i] * gs : grad[i];
      const float decayed = p[i] * k.decay;
      const float a = m[i] * k.beta1;
      const float b = g * k.oneMinusBeta1;
      const float mi = a + b;
      const float c = v[i] * k.beta2;
      const float gg = g * g;
      const float d = gg * k.oneMinusBeta2;
      const float vi = c + d;
      const float denom = std::sqrt(vi) / k.bc2Sqrt + k.eps;
      const float q = mi / denom;
      const float u = k.negStepSize * q;
      po[i] = decayed + u;
      mo[i] = mi;
      vo[i] = vi;
    }
  });
}

}  // namespace ns
