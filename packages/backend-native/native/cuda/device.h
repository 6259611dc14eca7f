// The C interface of a CUDA device build: implemented by device.cu (nvcc,
// the GPU) and by emulate.cc (g++, the same kernel bodies run on the host),
// and wrapped for Node by binding.cc. Buffers are device pointers; every
// kernel is enqueued on the device's one stream and returns at once; only
// ns_copy_out and ns_sync wait for the stream.
#pragma once
#include <stddef.h>

#include "kernels.cuh"

extern "C" {
/** 0 when a device is usable; else 1 with the reason in `why`. */
int ns_init(char* why, int len);
/** What the device is ("NVIDIA H200, sm_90, …" or "host emulation, not a GPU"). */
const char* ns_device_name();
/** Which GEMM runs ("cuBLAS 13.0 (float32, pedantic)", "own kernel (no cuBLAS: …)"). */
const char* ns_gemm_name();
void* ns_alloc(size_t bytes);
void ns_free(void* p);
void ns_copy_in(void* dst, const float* src, size_t n);
void ns_copy_out(float* dst, const void* src, size_t n);
void ns_sync();
/** The first error of an asynchronous launch since the last call ("" if none). */
const char* ns_last_error();

void ns_binary(int op, const float* a, const float* b, float* out, long n, NsShape s);
void ns_unary(int op, const float* x, float* y, long n);
void ns_strided_copy(const float* x, float* y, long n, NsShape s);
void ns_reduce(int op, const float* x, float* y, long outer, long inner);
void ns_softmax(const float* x, float* y, long rows, long n);
void ns_matmul(const float* a, const float* b, float* c, long batchA, long batchB, long M, long N, long K, int tA, int tB);
void ns_kv_attention(const float* q, const float* k, const float* v, float* o, long BH, long Lq, long Lk, long c, float scale);
void ns_group_norm_act(const float* x, const float* gamma, const float* beta, float* y, long B, long P, long C, long groups, float eps, int silu);
void ns_resample2d(const float* x, const float* mh, const float* mw, float* y, long B, long H, long W, long C, long h, long w);
void ns_im2col(const float* x, float* col, NsConv g);
void ns_conv2d_backprop_input(const float* dy, const float* w, float* dx, NsConv g);
void ns_ada_ln(const float* x, const float* scale, const float* shift, float* y, long B, long L, long C, float eps);
}
