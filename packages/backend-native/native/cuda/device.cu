// The CUDA device of @nextscale/backend-native: a first set of float32
// kernels, compiled ahead of time by nvcc (sm_80, sm_90 and PTX), and the
// probe the addon calls (through dlopen) to say whether a device is there.
// Only the probe is wired into the tfjs backend so far (see the README).
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

namespace {

__global__ void add_kernel(const float* a, const float* b, float* y, long n) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] = a[i] + b[i];
}

__global__ void mul_kernel(const float* a, const float* b, float* y, long n) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] = a[i] * b[i];
}

// one block per row; blockDim.x a power of two
__global__ void softmax_kernel(const float* x, float* y, int n) {
  extern __shared__ float red[];
  const float* xi = x + (long)blockIdx.x * n;
  float* yi = y + (long)blockIdx.x * n;
  float m = -INFINITY;
  for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, xi[j]);
  red[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
    __syncthreads();
  }
  m = red[0];
  __syncthreads();
  float sum = 0.f;
  for (int j = threadIdx.x; j < n; j += blockDim.x) sum += (yi[j] = expf(xi[j] - m));
  red[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
    __syncthreads();
  }
  const float inv = 1.f / red[0];
  for (int j = threadIdx.x; j < n; j += blockDim.x) yi[j] *= inv;
}

// LN(x)·(1 + scale) + shift, one block per token row (as the CPU device's ada_ln_modulate)
__global__ void ada_ln_kernel(const float* x, const float* scale, const float* shift, float* y, int L, int C, float eps) {
  extern __shared__ float red[];
  const long r = blockIdx.x;
  const float* xi = x + r * C;
  const float* s = scale + (r / L) * C;
  const float* t = shift + (r / L) * C;
  float sum = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) sum += xi[c];
  red[threadIdx.x] = sum;
  __syncthreads();
  for (int k = blockDim.x / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) red[threadIdx.x] += red[threadIdx.x + k];
    __syncthreads();
  }
  const float mean = red[0] / C;
  __syncthreads();
  float sq = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) sq += (xi[c] - mean) * (xi[c] - mean);
  red[threadIdx.x] = sq;
  __syncthreads();
  for (int k = blockDim.x / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) red[threadIdx.x] += red[threadIdx.x + k];
    __syncthreads();
  }
  const float rstd = rsqrtf(red[0] / C + eps);
  for (int c = threadIdx.x; c < C; c += blockDim.x) y[r * C + c] = (xi[c] - mean) * rstd * (1.f + s[c]) + t[c];
}

}  // namespace

extern "C" {

/** Number of usable devices (> 0), or 0 with the reason written to `why`. */
int nextscale_cuda_probe(char* why, int len) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    snprintf(why, len, "no CUDA device (cudaGetDeviceCount: %s)", cudaGetErrorString(e));
    return 0;
  }
  if (n == 0) snprintf(why, len, "no CUDA device (the driver reports none)");
  return n;
}

// Device pointers; asynchronous on the default stream.
void nextscale_cuda_add(const float* a, const float* b, float* y, long n) { add_kernel<<<1024, 256>>>(a, b, y, n); }
void nextscale_cuda_mul(const float* a, const float* b, float* y, long n) { mul_kernel<<<1024, 256>>>(a, b, y, n); }
void nextscale_cuda_softmax(const float* x, float* y, long rows, int n) {
  softmax_kernel<<<rows, 256, 256 * sizeof(float)>>>(x, y, n);
}
void nextscale_cuda_ada_ln(const float* x, const float* scale, const float* shift, float* y, int B, int L, int C, float eps) {
  ada_ln_kernel<<<(long)B * L, 256, 256 * sizeof(float)>>>(x, scale, shift, y, L, C, eps);
}
}
