// The host emulation of the CUDA device: the kernel bodies of kernels.cuh
// "launched" as loops over the grid on the CPU, malloc for device memory.
// It exists so that the cuda tfjs backend (src/cuda/), its allocator and
// every kernel body are tested on machines without a GPU; it is not a GPU
// and not fast (NEXTSCALE_CUDA_EMULATE=1 selects it).
#include <stdlib.h>
#include <string.h>

#include "device.h"

extern "C" {
int ns_init(char*, int) { return 0; }
const char* ns_device_name() { return "host emulation, not a GPU (the CUDA kernel bodies run as loops on the CPU)"; }
const char* ns_gemm_name() { return "own kernel (emulated)"; }
void* ns_alloc(size_t bytes) { return malloc(bytes ? bytes : 1); }
void ns_free(void* p) { free(p); }
void ns_copy_in(void* dst, const float* src, size_t n) { memcpy(dst, src, n * sizeof(float)); }
void ns_copy_out(float* dst, const void* src, size_t n) { memcpy(dst, src, n * sizeof(float)); }
void ns_sync() {}
const char* ns_last_error() { return ""; }

void ns_binary(int op, const float* a, const float* b, float* out, long n, NsShape s) {
  for (long i = 0; i < n; i++) ns_binary_at(i, op, a, b, out, s);
}
void ns_unary(int op, const float* x, float* y, long n) {
  for (long i = 0; i < n; i++) ns_unary_at(i, op, x, y);
}
void ns_strided_copy(const float* x, float* y, long n, NsShape s) {
  for (long i = 0; i < n; i++) ns_strided_copy_at(i, x, y, s);
}
void ns_reduce(int op, const float* x, float* y, long outer, long inner) {
  for (long r = 0; r < outer; r++) ns_reduce_row(r, op, x, y, inner);
}
void ns_softmax(const float* x, float* y, long rows, long n) {
  for (long r = 0; r < rows; r++) ns_softmax_row(r, x, y, n);
}
void ns_matmul(const float* a, const float* b, float* c, long batchA, long batchB, long M, long N, long K, int tA, int tB) {
  const long batch = batchA > batchB ? batchA : batchB;
  for (long i = 0; i < batch * M * N; i++) ns_matmul_at(i, a, b, c, batchA, batchB, M, N, K, tA, tB);
}
void ns_ada_ln(const float* x, const float* scale, const float* shift, float* y, long B, long L, long C, float eps) {
  for (long r = 0; r < B * L; r++) ns_ada_ln_row(r, x, scale, shift, y, L, C, eps);
}
void ns_kv_attention(const float* q, const float* k, const float* v, float* o, long BH, long Lq, long Lk, long c, float scale) {
  for (long r = 0; r < BH * Lq; r++) ns_kv_attention_row(r, q, k, v, o, Lq, Lk, c, scale);
}
void ns_group_norm_act(const float* x, const float* gamma, const float* beta, float* y, long B, long P, long C, long groups, float eps, int silu) {
  for (long g = 0; g < B * groups; g++) ns_group_norm_act_group(g, x, gamma, beta, y, P, C, groups, eps, silu);
}
void ns_resample2d(const float* x, const float* mh, const float* mw, float* y, long B, long H, long W, long C, long h, long w) {
  for (long i = 0; i < B * h * w * C; i++) ns_resample2d_at(i, x, mh, mw, y, H, W, C, h, w);
}
void ns_im2col(const float* x, float* col, NsConv g) {
  const long n = (long)g.B * g.Ho * g.Wo * g.KH * g.KW * g.Ci;
  for (long i = 0; i < n; i++) ns_im2col_at(i, x, col, g);
}
void ns_conv2d_backprop_input(const float* dy, const float* w, float* dx, NsConv g) {
  const long n = (long)g.B * g.H * g.W * g.Ci;
  for (long i = 0; i < n; i++) ns_conv2d_backprop_input_at(i, dy, w, dx, g);
}
}
