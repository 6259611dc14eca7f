// The training kernels of @nextscale/contract (TRAINING_KERNELS): GroupNormAct's gradient and one
// AdamW step, each one or three passes over its tensors instead of tens of element-wise kernels.
#include <cmath>
#include <vector>

#include "kernels.h"

// AdamW must round each operation as the plain ops do (one product, then the sum): no contraction into FMAs
#pragma GCC optimize("fp-contract=off")

namespace ns {

void group_norm_act_grad(const float* x, const float* gamma, const float* beta, const float* dy, float* dx, float* dgamma,
                         float* dbeta, int B, long P, int C, int groups, float eps, bool silu) {
  const int cg = C / groups;
  const double n = static_cast<double>(P) * cg;
  // per image: statistics (two passes, float64 across pixels as the forward kernel), then the sums of dn and
  // dn·n per group and of g·n and g per channel, then dx; dgamma and dbeta summed over the images in order
  std::vector<double> pg(static_cast<size_t>(B) * C), pb(static_cast<size_t>(B) * C);
  parallel_for(B, [&](long b0, long b1) {
    std::vector<double> mean(groups), var(groups), s1(groups), s2(groups);
    std::vector<float> mu(C), r(C), k1(C), k2(C);
    for (long b = b0; b < b1; b++) {
      const float* xb = x + b * P * C;
      const float* db = dy + b * P * C;
      float* ob = dx + b * P * C;
      std::fill(mean.begin(), mean.end(), 0.0);
      std::fill(var.begin(), var.end(), 0.0);
      for (long p = 0; p < P; p++)
        for (int c = 0; c < C; c++) mean[c / cg] += xb[p * C + c];
      for (int g = 0; g < groups; g++) mean[g] /= n;
      for (long p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
          const double d = xb[p * C + c] - mean[c / cg];
          var[c / cg] += d * d;
        }
      for (int c = 0; c < C; c++) {
        mu[c] = static_cast<float>(mean[c / cg]);
        r[c] = static_cast<float>(1.0 / std::sqrt(var[c / cg] / n + eps));
      }
      std::fill(s1.begin(), s1.end(), 0.0);
      std::fill(s2.begin(), s2.end(), 0.0);
      double* gb = pg.data() + b * C;
      double* bb = pb.data() + b * C;
      std::fill(gb, gb + C, 0.0);
      std::fill(bb, bb + C, 0.0);
      // g: dL/d(affine output); silu'(y) = σ(y)·(1 + y·(1 − σ(y)))
      auto grad = [&](long i, int c, float nv) {
        float gv = db[i];
        if (silu) {
          const float y = nv * gamma[c] + beta[c];
          const float s = 1.f / (1.f + std::exp(-y));
          gv *= s * (1.f + y * (1.f - s));
        }
        return gv;
      };
      for (long p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
          const long i = p * C + c;
          const float nv = (xb[i] - mu[c]) * r[c];
          const float gv = grad(i, c, nv);
          const float dn = gv * gamma[c];
          s1[c / cg] += dn;
          s2[c / cg] += static_cast<double>(dn) * nv;
          gb[c] += static_cast<double>(gv) * nv;
          bb[c] += gv;
        }
      // dx = r·(dn − mean(dn) − n·mean(dn·n)) over each group
      for (int c = 0; c < C; c++) {
        k1[c] = static_cast<float>(s1[c / cg] / n);
        k2[c] = static_cast<float>(s2[c / cg] / n);
      }
      for (long p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
          const long i = p * C + c;
          const float nv = (xb[i] - mu[c]) * r[c];
          const float dn = grad(i, c, nv) * gamma[c];
          ob[i] = r[c] * (dn - k1[c] - nv * k2[c]);
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
