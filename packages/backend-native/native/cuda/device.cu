// The CUDA device of @nextscale/backend-native (device.h) on a GPU: the
// kernel bodies of kernels.cuh in grid-stride loops, all on one stream;
// device memory by cudaMallocAsync (src/cuda/ caches freed buffers);
// GEMMs by cuBLAS when libcublas can be loaded at run time (dlopen: no
// cuBLAS headers or link at build time), else by ns_matmul_at.
// Compiled ahead of time by nvcc for sm_80, sm_90 and PTX. Never run on a
// GPU yet: only compiled, and its kernel bodies tested on the host
// emulation (emulate.cc).
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "device.h"

namespace {

cudaStream_t stream = nullptr;
std::string device_name = "no device";
std::string gemm_name = "own kernel";
char last_error[512] = "";

void note(cudaError_t e, const char* where) {
  if (e != cudaSuccess && !last_error[0]) snprintf(last_error, sizeof last_error, "%s: %s", where, cudaGetErrorString(e));
}

int blocks(long n, int threads = 256) {
  const long b = (n + threads - 1) / threads;
  return (int)(b < 65535 ? (b > 0 ? b : 1) : 65535);
}

#define GRID_STRIDE(i, n) for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

__global__ void binary_kernel(int op, const float* a, const float* b, float* out, long n, NsShape s) {
  GRID_STRIDE(i, n) ns_binary_at(i, op, a, b, out, s);
}
__global__ void unary_kernel(int op, const float* x, float* y, long n) {
  GRID_STRIDE(i, n) ns_unary_at(i, op, x, y);
}
__global__ void strided_copy_kernel(const float* x, float* y, long n, NsShape s) {
  GRID_STRIDE(i, n) ns_strided_copy_at(i, x, y, s);
}
__global__ void reduce_kernel(int op, const float* x, float* y, long outer, long inner) {
  GRID_STRIDE(r, outer) ns_reduce_row(r, op, x, y, inner);
}
__global__ void softmax_kernel(const float* x, float* y, long rows, long n) {
  GRID_STRIDE(r, rows) ns_softmax_row(r, x, y, n);
}
__global__ void matmul_kernel(const float* a, const float* b, float* c, long batchA, long batchB, long M, long N, long K, bool tA,
                              bool tB, long total) {
  GRID_STRIDE(i, total) ns_matmul_at(i, a, b, c, batchA, batchB, M, N, K, tA, tB);
}
__global__ void ada_ln_kernel(const float* x, const float* scale, const float* shift, float* y, long rows, long L, long C, float eps) {
  GRID_STRIDE(r, rows) ns_ada_ln_row(r, x, scale, shift, y, L, C, eps);
}

__global__ void kv_attention_kernel(const float* q, const float* k, const float* v, float* o, long rows, long Lq, long Lk, long c,
                                    float scale) {
  GRID_STRIDE(r, rows) ns_kv_attention_row(r, q, k, v, o, Lq, Lk, c, scale);
}
__global__ void group_norm_act_kernel(const float* x, const float* gamma, const float* beta, float* y, long n, long P, long C, long groups,
                                      float eps, bool silu) {
  GRID_STRIDE(g, n) ns_group_norm_act_group(g, x, gamma, beta, y, P, C, groups, eps, silu);
}
__global__ void resample2d_kernel(const float* x, const float* mh, const float* mw, float* y, long n, long H, long W, long C, long h, long w) {
  GRID_STRIDE(i, n) ns_resample2d_at(i, x, mh, mw, y, H, W, C, h, w);
}

__global__ void im2col_kernel(const float* x, float* col, long n, NsConv g) {
  GRID_STRIDE(i, n) ns_im2col_at(i, x, col, g);
}
__global__ void conv2d_backprop_input_kernel(const float* dy, const float* w, float* dx, long n, NsConv g) {
  GRID_STRIDE(i, n) ns_conv2d_backprop_input_at(i, dy, w, dx, g);
}

// cuBLAS, loaded at run time: the few entry points, declared here
typedef void* cublasHandle_t;
typedef int (*CreateFn)(cublasHandle_t*);
typedef int (*SetStreamFn)(cublasHandle_t, cudaStream_t);
typedef int (*SetMathModeFn)(cublasHandle_t, int);
typedef int (*GetVersionFn)(cublasHandle_t, int*);
typedef int (*SgemmStridedBatchedFn)(cublasHandle_t, int, int, int, int, int, const float*, const float*, int, long long, const float*,
                                     int, long long, const float*, float*, int, long long, int);
const int CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
const int CUBLAS_PEDANTIC_MATH = 2, CUBLAS_TF32_TENSOR_OP_MATH = 3;
cublasHandle_t cublas = nullptr;
SgemmStridedBatchedFn sgemm = nullptr;

void load_cublas() {
  if (getenv("NEXTSCALE_CUDA_NO_CUBLAS")) {
    gemm_name = "own kernel (NEXTSCALE_CUDA_NO_CUBLAS set)";
    return;
  }
  std::string tried;
  void* lib = nullptr;
  const char* names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
  for (const char* n : names) {
    if ((lib = dlopen(n, RTLD_NOW | RTLD_LOCAL))) break;
    tried += std::string(n) + " ";
  }
  // PyTorch's pip wheels: …/site-packages/nvidia/cublas/lib, …/nvidia/cu13/lib (NEXTSCALE_CUBLAS_DIR to name one)
  const char* dirs[] = {getenv("NEXTSCALE_CUBLAS_DIR"), getenv("NEXTSCALE_PYTHON_SITE")};
  for (int i = 0; !lib && i < 2; i++) {
    if (!dirs[i]) continue;
    const char* subs[] = {"", "/nvidia/cublas/lib", "/nvidia/cu13/lib"};
    for (const char* sub : subs)
      for (const char* n : names) {
        std::string p = std::string(dirs[i]) + sub + "/" + n;
        if (!lib) lib = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
      }
  }
  if (!lib) {
    gemm_name = "own kernel (no cuBLAS: " + tried + "not found)";
    return;
  }
  auto create = (CreateFn)dlsym(lib, "cublasCreate_v2");
  auto set_stream = (SetStreamFn)dlsym(lib, "cublasSetStream_v2");
  auto set_math = (SetMathModeFn)dlsym(lib, "cublasSetMathMode");
  auto version = (GetVersionFn)dlsym(lib, "cublasGetVersion_v2");
  auto gemm = (SgemmStridedBatchedFn)dlsym(lib, "cublasSgemmStridedBatched");
  if (!create || !set_stream || !set_math || !gemm || create(&cublas) != 0) {
    gemm_name = "own kernel (cuBLAS found but unusable)";
    return;
  }
  set_stream(cublas, stream);
  const bool tf32 = getenv("NEXTSCALE_CUDA_TF32") && !strcmp(getenv("NEXTSCALE_CUDA_TF32"), "1");
  set_math(cublas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
  int v = 0;
  if (version) version(cublas, &v);
  sgemm = gemm;
  char buf[128];
  snprintf(buf, sizeof buf, "cuBLAS %d (%s)", v, tf32 ? "TF32 tensor cores: NEXTSCALE_CUDA_TF32=1" : "float32, pedantic");
  gemm_name = buf;
}

}  // namespace

extern "C" {

int ns_init(char* why, int len) {
  if (stream) return 0;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    snprintf(why, len, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none");
    return 1;
  }
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  if ((e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)) != cudaSuccess) {
    snprintf(why, len, "cudaStreamCreate: %s", cudaGetErrorString(e));
    return 1;
  }
  char buf[256];
  snprintf(buf, sizeof buf, "%s, sm_%d%d, %.0f GiB", p.name, p.major, p.minor, p.totalGlobalMem / 1073741824.0);
  device_name = buf;
  load_cublas();
  return 0;
}
const char* ns_device_name() { return device_name.c_str(); }
const char* ns_gemm_name() { return gemm_name.c_str(); }
const char* ns_last_error() {
  note(cudaGetLastError(), "launch");
  static char copy[512];
  strcpy(copy, last_error);
  last_error[0] = 0;
  return copy;
}

void* ns_alloc(size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaMallocAsync(&p, bytes ? bytes : 1, stream);
  note(e, "cudaMallocAsync");
  return e == cudaSuccess ? p : nullptr;
}
void ns_free(void* p) { note(cudaFreeAsync(p, stream), "cudaFreeAsync"); }
// from pageable memory: returns once the source has been read (staged), so the caller may reuse it
void ns_copy_in(void* dst, const float* src, size_t n) { note(cudaMemcpyAsync(dst, src, n * 4, cudaMemcpyHostToDevice, stream), "copy in"); }
void ns_copy_out(float* dst, const void* src, size_t n) {
  note(cudaMemcpyAsync(dst, src, n * 4, cudaMemcpyDeviceToHost, stream), "copy out");
  note(cudaStreamSynchronize(stream), "sync");
}
void ns_sync() { note(cudaStreamSynchronize(stream), "sync"); }

void ns_binary(int op, const float* a, const float* b, float* out, long n, NsShape s) {
  binary_kernel<<<blocks(n), 256, 0, stream>>>(op, a, b, out, n, s);
}
void ns_unary(int op, const float* x, float* y, long n) { unary_kernel<<<blocks(n), 256, 0, stream>>>(op, x, y, n); }
void ns_strided_copy(const float* x, float* y, long n, NsShape s) { strided_copy_kernel<<<blocks(n), 256, 0, stream>>>(x, y, n, s); }
void ns_reduce(int op, const float* x, float* y, long outer, long inner) {
  reduce_kernel<<<blocks(outer, 128), 128, 0, stream>>>(op, x, y, outer, inner);
}
void ns_softmax(const float* x, float* y, long rows, long n) { softmax_kernel<<<blocks(rows, 128), 128, 0, stream>>>(x, y, rows, n); }
void ns_matmul(const float* a, const float* b, float* c, long batchA, long batchB, long M, long N, long K, int tA, int tB) {
  const long batch = batchA > batchB ? batchA : batchB;
  if (sgemm) {
    // row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands
    const float one = 1.f, zero = 0.f;
    const int lda = tA ? (int)M : (int)K, ldb = tB ? (int)K : (int)N;
    const int err = sgemm(cublas, tB ? CUBLAS_OP_T : CUBLAS_OP_N, tA ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, b, ldb,
                          batchB == 1 ? 0 : K * N, a, lda, batchA == 1 ? 0 : M * K, &zero, c, (int)N, M * N, (int)batch);
    if (err && !last_error[0]) snprintf(last_error, sizeof last_error, "cublasSgemmStridedBatched: status %d", err);
    return;
  }
  const long total = batch * M * N;
  matmul_kernel<<<blocks(total), 256, 0, stream>>>(a, b, c, batchA, batchB, M, N, K, tA, tB, total);
}
void ns_ada_ln(const float* x, const float* scale, const float* shift, float* y, long B, long L, long C, float eps) {
  ada_ln_kernel<<<blocks(B * L, 128), 128, 0, stream>>>(x, scale, shift, y, B * L, L, C, eps);
}
void ns_kv_attention(const float* q, const float* k, const float* v, float* o, long BH, long Lq, long Lk, long c, float scale) {
  kv_attention_kernel<<<blocks(BH * Lq, 64), 64, 0, stream>>>(q, k, v, o, BH * Lq, Lq, Lk, c, scale);
}
void ns_group_norm_act(const float* x, const float* gamma, const float* beta, float* y, long B, long P, long C, long groups, float eps, int silu) {
  group_norm_act_kernel<<<blocks(B * groups, 32), 32, 0, stream>>>(x, gamma, beta, y, B * groups, P, C, groups, eps, silu);
}
void ns_resample2d(const float* x, const float* mh, const float* mw, float* y, long B, long H, long W, long C, long h, long w) {
  const long n = B * h * w * C;
  resample2d_kernel<<<blocks(n), 256, 0, stream>>>(x, mh, mw, y, n, H, W, C, h, w);
}
void ns_im2col(const float* x, float* col, NsConv g) {
  const long n = (long)g.B * g.Ho * g.Wo * g.KH * g.KW * g.Ci;
  im2col_kernel<<<blocks(n), 256, 0, stream>>>(x, col, n, g);
}
void ns_conv2d_backprop_input(const float* dy, const float* w, float* dx, NsConv g) {
  const long n = (long)g.B * g.H * g.W * g.Ci;
  conv2d_backprop_input_kernel<<<blocks(n), 256, 0, stream>>>(dy, w, dx, n, g);
}
}
