// The CPU device's kernels (kernels.cc): float32, row-major, host memory.
#pragma once

#include <functional>

namespace ns {

/**
 * e^x in float32 without a library call, so that loops over it vectorise:
 * Cody–Waite range reduction and Cephes' expf polynomial (about 1 ulp);
 * NaN stays NaN, x > 88.72 gives +inf, x < −87.3 gives 0 or a denormal's worth.
 */
inline float fast_exp(float x) {
  if (x != x) return x;
  const float hi = 88.7228f, lo = -87.3365f;
  const bool over = x > hi;
  x = x < lo ? lo : (x > hi ? hi : x);
  const float t = x * 1.44269504088896341f + 12582912.f;  // round to nearest: 1.5·2^23
  const float n = t - 12582912.f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  // 2^n as float bits, n in [−126, 128): the top of the range (n = 128) as 2·2^127
  const int ni = static_cast<int>(n);
  union {
    int i;
    float f;
  } a{((ni > 127 ? 127 : ni) + 127) << 23};
  return over ? __builtin_inff() : (ni > 127 ? (p * 2.f) * a.f : p * a.f);
}

enum Act { ACT_LINEAR = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_SIGMOID = 3, ACT_ELU = 4, ACT_LEAKYRELU = 5 };
enum Bin { BIN_ADD = 0, BIN_SUB = 1, BIN_MUL = 2, BIN_DIV = 3, BIN_MAX = 4, BIN_MIN = 5, BIN_SQDIFF = 6 };
enum Un {
  UN_EXP = 0, UN_LOG = 1, UN_NEG = 2, UN_SQRT = 3, UN_RSQRT = 4, UN_SQUARE = 5,
  UN_RELU = 6, UN_SIGMOID = 7, UN_TANH = 8, UN_ABS = 9
};
enum Red { RED_SUM = 0, RED_MEAN = 1, RED_MAX = 2, RED_MIN = 3 };

/** A 2-D convolution's geometry: NHWC input (B, H, W, Ci), HWIO filter, output (B, Ho, Wo, Co). */
struct ConvGeom {
  int B, H, W, Ci, Ho, Wo, Co, KH, KW, sh, sw, dh, dw, pt, pl;
};

void set_threads(int n);
/** fn over [0, n) split across the pool, one part per thread at most (for outer loops: images). */
void parallel_for(long n, const std::function<void(long, long)>& fn);
/** fn over [0, n) split across the pool in parts of at least `grain` elements. */
void parallel_for_grain(long n, long grain, const std::function<void(long, long)>& fn);

/** The constants of one AdamW step (see AdamWUpdateAttrs in @nextscale/contract), rounded to float32. */
struct AdamWConsts {
  float decay, beta1, oneMinusBeta1, beta2, oneMinusBeta2, bc2Sqrt, eps, negStepSize;
};
void adamw_update(const float* p, const float* grad, const float* m, const float* v, const float* gradScale, float* po, float* mo,
                  float* vo, long n, const AdamWConsts& k);
/** y = GELU(x), tanh approximation; dx = its gradient at x times dy (n elements each). */
void gelu_tanh(const float* x, float* y, long n);
void gelu_tanh_grad(const float* x, const float* dy, float* dx, long n);
void group_norm_act_grad(const float* x, const float* gamma, const float* beta, const float* dy, float* dx, float* dgamma,
                         float* dbeta, int B, long P, int C, int groups, float eps, bool silu);
int threads();
const char* blas_config();

/** C (batch, M, N) = op(A)·op(B); a batch of 1 on either side is broadcast. */
void matmul(const float* a, const float* b, float* c, int batchA, int batchB, int M, int N, int K, bool tA, bool tB);
/** In place: c (rows, N) += bias (N, or 1 when !perColumn), then the activation. */
void bias_act(float* c, const float* bias, long rows, int N, bool perColumn, int act, float alpha);
void conv2d(const ConvGeom& g, const float* x, const float* w, float* y);
/** oneDNN's convolutions (dnnl_conv.cc), where built with it: false when absent, switched off or declined. */
bool dnnl_available();
const char* dnnl_version_string();
void dnnl_enable(bool on);
bool dnnl_enabled();
void dnnl_threads(int n);
bool dnnl_conv2d(const ConvGeom& g, const float* x, const float* w, float* y);
bool dnnl_conv2d_backprop_input(const ConvGeom& g, const float* dy, const float* w, float* dx);
bool dnnl_conv2d_backprop_filter(const ConvGeom& g, const float* x, const float* dy, float* dw);
void conv2d_backprop_filter(const ConvGeom& g, const float* x, const float* dy, float* dw);
void conv2d_backprop_input(const ConvGeom& g, const float* dy, const float* w, float* dx);
/** out (shape) = a op b, with element strides per dimension (0: broadcast). */
void binary(int op, const float* a, const float* b, float* out, int rank, const int* shape, const long* as, const long* bs);
/** y (shape, contiguous) = x read with per-dimension element strides xs (a transpose, a slice). */
void strided_copy(const float* x, float* y, int rank, const int* shape, const long* xs);
void unary(int op, const float* x, float* y, long n);
void softmax(const float* x, float* y, long rows, int n);
/** y (outer) = reduction of x (outer, inner) over its last axis. */
void reduce(int op, const float* x, float* y, long outer, long inner);
/** y (cols) = reduction of x (rows, cols) over its first axis. */
void reduce_outer(int op, const float* x, float* y, long rows, long cols);
void ada_ln_modulate(const float* x, const float* scale, const float* shift, float* y, int B, int L, int C, float eps);
void kv_attention(const float* q, const float* k, const float* v, float* o, int BH, int Lq, int Lk, int c, float scale);
void group_norm_act(const float* x, const float* gamma, const float* beta, float* y, int B, long P, int C, int groups, float eps,
                    bool silu);
void resample2d(const float* x, const float* mh, const float* mw, float* y, int B, int H, int W, int C, int h, int w);

}  // namespace ns
