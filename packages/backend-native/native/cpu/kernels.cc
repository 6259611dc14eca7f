// The CPU device of @nextscale/backend-native: float32 kernels over host
// memory. GEMMs go to OpenBLAS (cblas_sgemm); element-wise loops are plain C++
// the compiler vectorises for the host (-O3 -march=native at install) and
// split over a small thread pool. Each kernel's simple reference lives in
// src/reference.ts, and src/kernels.test.ts checks one against the other.
#include "kernels.h"

#include <cblas.h>

#include <algorithm>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ns {

// ---------------------------------------------------------------- thread pool
// parallel_for(n, fn): fn(begin, end) over [0, n) in one chunk per thread; the
// caller runs the first chunk. Workers wait on a condition variable between calls.
class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  void resize(int n) {
    stop();
    done_ = false;
    for (int i = 1; i < std::max(1, n); i++) workers_.emplace_back([this, i] { loop(i); });
  }
  void run(long n, long grain, const std::function<void(long, long)>& fn) {
    int parts = static_cast<int>(std::min<long>(size(), std::max<long>(1, n / std::max<long>(1, grain))));
    if (parts <= 1) {
      fn(0, n);
      return;
    }
    {
      std::unique_lock<std::mutex> lk(mu_);
      fn_ = &fn;
      n_ = n;
      parts_ = parts;
      pending_ = parts - 1;
      gen_++;
    }
    cv_.notify_all();
    fn(0, n / parts);
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void loop(int id) {
    long seen = 0;
    for (;;) {
      const std::function<void(long, long)>* fn;
      long n;
      int parts;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return done_ || gen_ != seen; });
        if (done_) return;
        seen = gen_;
        fn = fn_;
        n = n_;
        parts = parts_;
      }
      if (id < parts) (*fn)(n * id / parts, n * (id + 1) / parts);
      {
        std::unique_lock<std::mutex> lk(mu_);
        if (id < parts && --pending_ == 0) done_cv_.notify_one();
      }
    }
  }
  void stop() {
    {
      std::unique_lock<std::mutex> lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(long, long)>* fn_ = nullptr;
  long n_ = 0, gen_ = 0;
  int parts_ = 0, pending_ = 0;
  bool done_ = false;
};

static int default_threads() {
  const int n = static_cast<int>(std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  // OpenBLAS's own default measured as one thread inside the addon (100 vs 280 GFLOP/s on 2 cores): set it
  openblas_set_num_threads(n);
  return n;
}

static Pool& pool() {
  static Pool p(default_threads());
  return p;
}

void set_threads(int n) {
  pool().resize(n);
  openblas_set_num_threads(n);
  dnnl_threads(n);
}
int threads() { return pool().size(); }
const char* blas_config() { return openblas_get_config(); }

// Split [0, n) over the pool when each part has at least `grain` elements of work.
// A par inside a par (a kernel that splits its work called from a split loop) runs inline.
static thread_local bool in_par = false;
static void par(long n, long grain, const std::function<void(long, long)>& fn) {
  if (in_par) {
    fn(0, n);
    return;
  }
  in_par = true;
  pool().run(n, grain, [&](long i0, long i1) {
    const bool was = in_par;
    in_par = true;
    fn(i0, i1);
    in_par = was;
  });
  in_par = false;
}
constexpr long GRAIN = 1 << 15;
void parallel_for(long n, const std::function<void(long, long)>& fn) { par(n, 1, fn); }
void parallel_for_grain(long n, long grain, const std::function<void(long, long)>& fn) { par(n, grain, fn); }

// ----------------------------------------------------------------------- GEMM
// An image's rows must not depend on the batch they are computed in (the
// sampler's per-image streams promise byte-identical images at any batch
// size). OpenBLAS does not promise that: its kernels compute a row
// differently by its position among the rows and by their number (measured:
// 0.3.21's Haswell/Zen kernels, period-6 position effects and tail kernels;
// SkylakeX's separate small-matrix kernel; its threads' splits). So the
// products whose rows may hold a batch (A untransposed) use this kernel:
// every element is one fused multiply-add chain over k = 0 … K−1 from 0
// (AVX2 lanes or std::fma: both round once per step, so the same bits), in
// register tiles of up to 6 rows × 16 columns, blocked for the caches, split
// over the pool by tiles. Tiling, blocking and threads then change only which
// core computes an element, never its value: a row is the same at any M, at
// any position, on any thread count (tested in src/kernels.test.ts).
static constexpr int GR = 6, GC = 16;      // register tile: rows × columns
static constexpr int KB = 256, NB = 256;   // cache blocks of k and of columns
static constexpr long MB = 96;             // rows per parallel tile

// rows [0, R) × columns [0, w) of C (+)= A[:, k0:k1) · B[k0:k1, :]; w ≤ GC; first: start from 0
template <int R>
static inline void tile(const float* a, long lda, const float* b, long ldb, float* c, long ldc, int k0, int k1, int w, bool first) {
#if defined(__AVX2__) && defined(__FMA__)
  if (w == GC) {
    __m256 acc[R][2];
    for (int r = 0; r < R; r++) {
      acc[r][0] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc);
      acc[r][1] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc + 8);
    }
    for (int k = k0; k < k1; k++) {
      const __m256 b0 = _mm256_loadu_ps(b + k * ldb), b1 = _mm256_loadu_ps(b + k * ldb + 8);
      for (int r = 0; r < R; r++) {
        const __m256 av = _mm256_broadcast_ss(a + r * lda + k);
        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; r++) {
      _mm256_storeu_ps(c + r * ldc, acc[r][0]);
      _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
    }
    return;
  }
#endif
  for (int r = 0; r < R; r++)
    for (int j = 0; j < w; j++) {
      float acc = first ? 0.f : c[r * ldc + j];
      for (int k = k0; k < k1; k++) acc = std::fma(a[r * lda + k], b[k * ldb + j], acc);
      c[r * ldc + j] = acc;
    }
}

static void tile_rows(int R, const float* a, long lda, const float* b, long ldb, float* c, long ldc, int k0, int k1, int w, bool first) {
  switch (R) {
    case 6: tile<6>(a, lda, b, ldb, c, ldc, k0, k1, w, first); break;
    case 5: tile<5>(a, lda, b, ldb, c, ldc, k0, k1, w, first); break;
    case 4: tile<4>(a, lda, b, ldb, c, ldc, k0, k1, w, first); break;
    case 3: tile<3>(a, lda, b, ldb, c, ldc, k0, k1, w, first); break;
    case 2: tile<2>(a, lda, b, ldb, c, ldc, k0, k1, w, first); break;
    default: tile<1>(a, lda, b, ldb, c, ldc, k0, k1, w, first); break;
  }
}

// C (M, N) = A (M, K) · B, B (K, N) row-major (ldb) or, with tB, (N, K) (ldb) transposed first
static void gemm_rows(const float* a, const float* b, float* c, long M, int N, int K, bool tB, int ldb) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(c, c + M * N, 0.f);
    return;
  }
  std::vector<float> bt;
  if (tB) {  // to (K, N)
    bt.resize(static_cast<size_t>(K) * N);
    par(N, std::max(1L, GRAIN / K), [&](long j0, long j1) {
      for (long j = j0; j < j1; j++)
        for (int k = 0; k < K; k++) bt[static_cast<size_t>(k) * N + j] = b[j * ldb + k];
    });
    b = bt.data();
    ldb = N;
  }
  const long rowTiles = (M + MB - 1) / MB, colTiles = (N + NB - 1) / NB;
  const long tiles = rowTiles * colTiles;
  par(tiles, M * N * static_cast<long>(K) < (1L << 17) ? tiles : 1, [&](long t0, long t1) {
    for (long t = t0; t < t1; t++) {
      const long r0 = (t / colTiles) * MB, r1 = std::min(M, r0 + MB);
      const int j0 = static_cast<int>((t % colTiles) * NB), j1 = std::min(N, j0 + NB);
      for (int k0 = 0; k0 < K; k0 += KB) {
        const int k1 = std::min(K, k0 + KB);
        for (long r = r0; r < r1; r += GR) {
          const int R = static_cast<int>(std::min<long>(GR, r1 - r));
          for (int j = j0; j < j1; j += GC)
            tile_rows(R, a + r * K, K, b + j, ldb, c + r * N + j, N, k0, k1, std::min(GC, j1 - j), k0 == 0);
        }
      }
    }
  });
}

void matmul(const float* a, const float* b, float* c, int batchA, int batchB, int M, int N, int K, bool tA, bool tB) {
  const int lda = tA ? M : K, ldb = tB ? K : N;
  const auto ta = tA ? CblasTrans : CblasNoTrans, tb = tB ? CblasTrans : CblasNoTrans;
  if (batchB == 1 && !tA) {  // B shared: fold A's batch into its rows, one product
    gemm_rows(a, b, c, static_cast<long>(batchA) * M, N, K, tB, ldb);
    return;
  }
  const int batch = std::max(batchA, batchB);
  const long sa = batchA == 1 ? 0 : static_cast<long>(M) * K, sb = batchB == 1 ? 0 : static_cast<long>(K) * N;
  // one product per batch entry; with A untransposed through gemm_rows, as the folded product above
  // (an entry's rows then come out the same as in a batch of one)
  auto entry = [&](long i) {
    float* ci = c + i * M * N;
    if (!tA)
      gemm_rows(a + i * sa, b + i * sb, ci, M, N, K, tB, ldb);
    else
      cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.f, a + i * sa, lda, b + i * sb, ldb, 0.f, ci, N);
  };
  const long work = static_cast<long>(M) * N * K;
  if (work >= (1L << 22)) {  // big enough for OpenBLAS's own threads
    for (int i = 0; i < batch; i++) entry(i);
    return;
  }
  // many small products (attention heads): one per pool thread, OpenBLAS single-threaded inside
  openblas_set_num_threads(1);
  par(batch, std::max(1L, (1L << 16) / std::max(1L, work)), [&](long i0, long i1) {
    for (long i = i0; i < i1; i++) entry(i);
  });
  openblas_set_num_threads(threads());
}

static inline float activate(float v, int act, float alpha) {
  switch (act) {
    case ACT_RELU: return v > 0.f ? v : 0.f;
    case ACT_RELU6: return std::min(6.f, std::max(0.f, v));
    case ACT_SIGMOID: return 1.f / (1.f + fast_exp(-v));
    case ACT_ELU: return v >= 0.f ? v : std::expm1(v);
    case ACT_LEAKYRELU: return v < 0.f ? alpha * v : v;
    default: return v;
  }
}

void bias_act(float* c, const float* bias, long rows, int N, bool perColumn, int act, float alpha) {
  par(rows, std::max(1L, GRAIN / N), [&](long r0, long r1) {
    for (long r = r0; r < r1; r++) {
      float* row = c + r * N;
      if (bias) {
        if (perColumn)
          for (int j = 0; j < N; j++) row[j] += bias[j];
        else
          for (int j = 0; j < N; j++) row[j] += bias[0];
      }
      if (act != ACT_LINEAR)
        for (int j = 0; j < N; j++) row[j] = activate(row[j], act, alpha);
    }
  });
}

// ---------------------------------------------------------------- convolution
// NHWC input, HWIO filter (tfjs's layout). im2col over blocks of output
// positions of the whole batch (flattened (B, Ho, Wo), so that small images
// make one large product, not one small one each), then one GEMM per block:
// (positions, KH·KW·Ci) · (KH·KW·Ci, Co).
static constexpr long COL_BUDGET = 8L << 20;  // floats of im2col buffer per block (32 MB)

// col rows for the flattened output positions [p0, p1)
static void im2col(const ConvGeom& g, const float* x, long p0, long p1, float* col) {
  const int KC = g.KH * g.KW * g.Ci;
  const long HW = static_cast<long>(g.Ho) * g.Wo;
  par(p1 - p0, std::max(1L, GRAIN / KC), [&](long q0, long q1) {
    for (long q = q0; q < q1; q++) {
      const long p = p0 + q;
      const long b = p / HW;
      const int oy = static_cast<int>((p % HW) / g.Wo), ox = static_cast<int>(p % g.Wo);
      float* dst = col + q * KC;
      for (int i = 0; i < g.KH; i++) {
        const int iy = oy * g.sh - g.pt + i * g.dh;
        for (int j = 0; j < g.KW; j++, dst += g.Ci) {
          const int ix = ox * g.sw - g.pl + j * g.dw;
          if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W)
            std::fill(dst, dst + g.Ci, 0.f);
          else
            std::copy_n(x + ((b * g.H + iy) * g.W + ix) * g.Ci, g.Ci, dst);
        }
      }
    }
  });
}

static bool pointwise(const ConvGeom& g) {
  return g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.Ho == g.H && g.Wo == g.W;
}

// output positions per block: as many as the im2col budget holds
static long block_positions(const ConvGeom& g) {
  const long KC = static_cast<long>(g.KH) * g.KW * g.Ci;
  return std::max(1L, std::min<long>(static_cast<long>(g.B) * g.Ho * g.Wo, COL_BUDGET / std::max(1L, KC)));
}

void conv2d(const ConvGeom& g, const float* x, const float* w, float* y) {
  if (!pointwise(g) && dnnl_conv2d(g, x, w, y)) return;
  const int KC = g.KH * g.KW * g.Ci;
  const long P = static_cast<long>(g.B) * g.Ho * g.Wo;
  if (pointwise(g)) {
    gemm_rows(x, w, y, P, g.Co, g.Ci, false, g.Co);
    return;
  }
  // each output row is one row of a product that computes rows alike whatever their number (gemm_rows),
  // so an image comes out the same at any batch size and in any block
  const long blk = block_positions(g);
  std::vector<float> col(static_cast<size_t>(blk) * KC);
  for (long p0 = 0; p0 < P; p0 += blk) {
    const long p1 = std::min(P, p0 + blk);
    im2col(g, x, p0, p1, col.data());
    gemm_rows(col.data(), w, y + p0 * g.Co, p1 - p0, g.Co, KC, false, g.Co);
  }
}

void conv2d_backprop_filter(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  if (!pointwise(g) && dnnl_conv2d_backprop_filter(g, x, dy, dw)) return;
  const int KC = g.KH * g.KW * g.Ci;
  const long P = static_cast<long>(g.B) * g.Ho * g.Wo;
  if (pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.Ci, g.Co, static_cast<int>(P), 1.f, x, g.Ci, dy, g.Co, 0.f, dw, g.Co);
    return;
  }
  const long blk = block_positions(g);
  std::vector<float> col(static_cast<size_t>(blk) * KC);
  for (long p0 = 0; p0 < P; p0 += blk) {
    const long p1 = std::min(P, p0 + blk);
    im2col(g, x, p0, p1, col.data());
    // dW (KC, Co) (+)= colᵀ (KC, P) · dy (P, Co)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KC, g.Co, static_cast<int>(p1 - p0), 1.f, col.data(), KC, dy + p0 * g.Co,
                g.Co, p0 ? 1.f : 0.f, dw, g.Co);
  }
  if (P == 0) std::fill(dw, dw + static_cast<long>(KC) * g.Co, 0.f);
}

void conv2d_backprop_input(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  if (!pointwise(g) && dnnl_conv2d_backprop_input(g, dy, w, dx)) return;
  const int KC = g.KH * g.KW * g.Ci;
  const long P = static_cast<long>(g.B) * g.Ho * g.Wo;
  if (pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(P), g.Ci, g.Co, 1.f, dy, g.Co, w, g.Co, 0.f, dx, g.Ci);
    return;
  }
  const long HW = static_cast<long>(g.Ho) * g.Wo;
  const long blk = block_positions(g);
  std::vector<float> col(static_cast<size_t>(blk) * KC);
  std::fill(dx, dx + static_cast<long>(g.B) * g.H * g.W * g.Ci, 0.f);
  for (long p0 = 0; p0 < P; p0 += blk) {
    const long p1 = std::min(P, p0 + blk);
    // dcol (P, KC) = dy (P, Co) · Wᵀ (Co, KC), then scattered back (col2im): patches of one image overlap,
    // so each image's positions are added serially, the images of the block in parallel
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(p1 - p0), KC, g.Co, 1.f, dy + p0 * g.Co, g.Co, w, g.Co, 0.f,
                col.data(), KC);
    const long b0 = p0 / HW, b1 = (p1 - 1) / HW + 1;
    par(b1 - b0, 1, [&](long i0, long i1) {
      for (long b = b0 + i0; b < b0 + i1; b++) {
        const long q0 = std::max(p0, b * HW), q1 = std::min(p1, (b + 1) * HW);
        for (long p = q0; p < q1; p++) {
          const int oy = static_cast<int>((p % HW) / g.Wo), ox = static_cast<int>(p % g.Wo);
          const float* s = col.data() + (p - p0) * KC;
          for (int i = 0; i < g.KH; i++) {
            const int iy = oy * g.sh - g.pt + i * g.dh;
            for (int j = 0; j < g.KW; j++, s += g.Ci) {
              const int ix = ox * g.sw - g.pl + j * g.dw;
              if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
              float* d = dx + ((b * g.H + iy) * g.W + ix) * g.Ci;
              for (int c = 0; c < g.Ci; c++) d[c] += s[c];
            }
          }
        }
      }
    });
  }
}

// ----------------------------------------------------------------- element-wise
template <typename F>
static void binary_loop(const float* a, const float* b, float* out, int rank, const int* shape, const long* as, const long* bs,
                        F f) {
  // the innermost dimension runs contiguous (stride 1) or broadcast (stride 0) on each side
  const long inner = rank ? shape[rank - 1] : 1;
  long outer = 1;
  for (int d = 0; d < rank - 1; d++) outer *= shape[d];
  const long ia = rank ? as[rank - 1] : 0, ib = rank ? bs[rank - 1] : 0;
  par(outer, std::max(1L, GRAIN / inner), [&](long o0, long o1) {
    for (long o = o0; o < o1; o++) {
      long oa = 0, ob = 0, rem = o;
      for (int d = rank - 2; d >= 0; d--) {
        const long i = rem % shape[d];
        rem /= shape[d];
        oa += i * as[d];
        ob += i * bs[d];
      }
      const float* pa = a + oa;
      const float* pb = b + ob;
      float* po = out + o * inner;
      if (ia && ib)
        for (long i = 0; i < inner; i++) po[i] = f(pa[i], pb[i]);
      else if (ia) {
        const float vb = pb[0];
        for (long i = 0; i < inner; i++) po[i] = f(pa[i], vb);
      } else if (ib) {
        const float va = pa[0];
        for (long i = 0; i < inner; i++) po[i] = f(va, pb[i]);
      } else {
        const float v = f(pa[0], pb[0]);
        for (long i = 0; i < inner; i++) po[i] = v;
      }
    }
  });
}

void binary(int op, const float* a, const float* b, float* out, int rank, const int* shape, const long* as, const long* bs) {
  switch (op) {
    case BIN_ADD: return binary_loop(a, b, out, rank, shape, as, bs, [](float x, float y) { return x + y; });
    case BIN_SUB: return binary_loop(a, b, out, rank, shape, as, bs, [](float x, float y) { return x - y; });
    case BIN_MUL: return binary_loop(a, b, out, rank, shape, as, bs, [](float x, float y) { return x * y; });
    case BIN_DIV: return binary_loop(a, b, out, rank, shape, as, bs, [](float x, float y) { return x / y; });
    case BIN_MAX:
      return binary_loop(a, b, out, rank, shape, as, bs, [](float x, float y) { return std::isnan(x) || std::isnan(y) ? NAN : std::max(x, y); });
    case BIN_MIN:
      return binary_loop(a, b, out, rank, shape, as, bs, [](float x, float y) { return std::isnan(x) || std::isnan(y) ? NAN : std::min(x, y); });
    case BIN_SQDIFF: return binary_loop(a, b, out, rank, shape, as, bs, [](float x, float y) { return (x - y) * (x - y); });
  }
}

void strided_copy(const float* x, float* y, int rank, const int* shape, const long* xs) {
  const long inner = rank ? shape[rank - 1] : 1;
  long outer = 1;
  for (int d = 0; d < rank - 1; d++) outer *= shape[d];
  const long is = rank ? xs[rank - 1] : 1;
  par(outer, std::max(1L, GRAIN / inner), [&](long o0, long o1) {
    for (long o = o0; o < o1; o++) {
      long off = 0, rem = o;
      for (int d = rank - 2; d >= 0; d--) {
        off += (rem % shape[d]) * xs[d];
        rem /= shape[d];
      }
      const float* src = x + off;
      float* dst = y + o * inner;
      if (is == 1)
        std::copy_n(src, inner, dst);
      else
        for (long i = 0; i < inner; i++) dst[i] = src[i * is];
    }
  });
}

template <typename F>
static void unary_loop(const float* x, float* y, long n, F f) {
  par(n, GRAIN, [&](long i0, long i1) {
    for (long i = i0; i < i1; i++) y[i] = f(x[i]);
  });
}

void unary(int op, const float* x, float* y, long n) {
  switch (op) {
    case UN_EXP: return unary_loop(x, y, n, [](float v) { return std::exp(v); });
    case UN_LOG: return unary_loop(x, y, n, [](float v) { return std::log(v); });
    case UN_NEG: return unary_loop(x, y, n, [](float v) { return -v; });
    case UN_SQRT: return unary_loop(x, y, n, [](float v) { return std::sqrt(v); });
    case UN_RSQRT: return unary_loop(x, y, n, [](float v) { return 1.f / std::sqrt(v); });
    case UN_SQUARE: return unary_loop(x, y, n, [](float v) { return v * v; });
    case UN_RELU: return unary_loop(x, y, n, [](float v) { return std::isnan(v) ? v : (v > 0.f ? v : 0.f); });
    case UN_SIGMOID: return unary_loop(x, y, n, [](float v) { return 1.f / (1.f + fast_exp(-v)); });
    case UN_TANH: return unary_loop(x, y, n, [](float v) { return std::tanh(v); });
    case UN_ABS: return unary_loop(x, y, n, [](float v) { return std::fabs(v); });
  }
}

void softmax(const float* x, float* y, long rows, int n) {
  par(rows, std::max(1L, GRAIN / n), [&](long r0, long r1) {
    for (long r = r0; r < r1; r++) {
      const float* xi = x + r * n;
      float* yi = y + r * n;
      float m = -INFINITY;
      for (int j = 0; j < n; j++) m = std::max(m, xi[j]);
      float s = 0.f;
      for (int j = 0; j < n; j++) s += (yi[j] = std::exp(xi[j] - m));
      const float inv = 1.f / s;
      for (int j = 0; j < n; j++) yi[j] *= inv;
    }
  });
}

void reduce(int op, const float* x, float* y, long outer, long inner) {
  par(outer, std::max(1L, GRAIN / std::max(1L, inner)), [&](long r0, long r1) {
    for (long r = r0; r < r1; r++) {
      const float* xi = x + r * inner;
      if (op == RED_MAX || op == RED_MIN) {
        float m = xi[0];
        for (long j = 1; j < inner; j++) {
          const float v = xi[j];
          if (std::isnan(v) || (op == RED_MAX ? v > m : v < m)) m = v;
          if (std::isnan(m)) break;
        }
        y[r] = m;
      } else {
        float s = 0.f;
        for (long j = 0; j < inner; j++) s += xi[j];
        y[r] = op == RED_MEAN ? s / static_cast<float>(inner) : s;
      }
    }
  });
}

void reduce_outer(int op, const float* x, float* y, long rows, long cols) {
  // columns split over the pool; each part walks the rows in order (a column's result is the same
  // sequence of float32 operations as reduce() over the transposed copy)
  par(cols, std::max(1L, GRAIN / std::max(1L, rows)), [&](long c0, long c1) {
    const long w = c1 - c0;
    float* yc = y + c0;
    if (op == RED_MAX || op == RED_MIN) {
      std::copy_n(x + c0, w, yc);
      for (long i = 1; i < rows; i++) {
        const float* xi = x + i * cols + c0;
        for (long j = 0; j < w; j++) {
          const float v = xi[j], m = yc[j];
          if (!std::isnan(m) && (std::isnan(v) || (op == RED_MAX ? v > m : v < m))) yc[j] = v;
        }
      }
    } else {
      std::fill(yc, yc + w, 0.f);
      for (long i = 0; i < rows; i++) {
        const float* xi = x + i * cols + c0;
        for (long j = 0; j < w; j++) yc[j] += xi[j];
      }
      if (op == RED_MEAN)
        for (long j = 0; j < w; j++) yc[j] /= static_cast<float>(rows);
    }
  });
}

// ------------------------------------------------------------------ fused ops
// Semantics as core's fallbacks (packages/core/src/kernels/*.ts) and the wasm kernels.

void ada_ln_modulate(const float* x, const float* scale, const float* shift, float* y, int B, int L, int C, float eps) {
  par(static_cast<long>(B) * L, std::max(1L, GRAIN / C), [&](long r0, long r1) {
    for (long r = r0; r < r1; r++) {
      const long b = r / L;
      const float* xi = x + r * C;
      const float* s = scale + b * C;
      const float* t = shift + b * C;
      float* yi = y + r * C;
      float sum = 0.f;
      for (int c = 0; c < C; c++) sum += xi[c];
      const float mean = sum / C;
      float sq = 0.f;
      for (int c = 0; c < C; c++) sq += (xi[c] - mean) * (xi[c] - mean);
      const float rstd = 1.f / std::sqrt(sq / C + eps);
      for (int c = 0; c < C; c++) yi[c] = (xi[c] - mean) * rstd * (1.f + s[c]) + t[c];
    }
  });
}

void kv_attention(const float* q, const float* k, const float* v, float* o, int BH, int Lq, int Lk, int c, float scale) {
  // per (image, head): S = scale·q·kᵀ (Lq, Lk), softmax rows, O = S·v; heads split over the pool
  openblas_set_num_threads(1);
  par(BH, 1, [&](long h0, long h1) {
    std::vector<float> s(static_cast<size_t>(Lq) * Lk);
    for (long h = h0; h < h1; h++) {
      const float* qh = q + h * Lq * c;
      const float* kh = k + h * Lk * c;
      const float* vh = v + h * Lk * c;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Lq, Lk, c, scale, qh, c, kh, c, 0.f, s.data(), Lk);
      for (int i = 0; i < Lq; i++) {
        float* row = s.data() + static_cast<long>(i) * Lk;
        float m = -INFINITY;
        for (int j = 0; j < Lk; j++) m = std::max(m, row[j]);
        float sum = 0.f;
        for (int j = 0; j < Lk; j++) sum += (row[j] = std::exp(row[j] - m));
        const float inv = 1.f / sum;
        for (int j = 0; j < Lk; j++) row[j] *= inv;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Lq, c, Lk, 1.f, s.data(), Lk, vh, c, 0.f, o + h * Lq * c, c);
    }
  });
  openblas_set_num_threads(threads());
}

void group_norm_act(const float* x, const float* gamma, const float* beta, float* y, int B, long P, int C, int groups, float eps,
                    bool silu) {
  const int cg = C / groups;
  for (int b = 0; b < B; b++) {
    const float* xb = x + b * P * C;
    float* yb = y + b * P * C;
    // statistics in two passes (the mean, then squared deviations from it: E[x²] − μ² cancels in
    // float32 when |μ| ≫ σ), per channel, then per group
    const int T = threads();
    const double n = static_cast<double>(P) * cg;
    std::vector<double> part(static_cast<size_t>(T) * C);
    std::vector<double> mean(groups, 0.0), var(groups, 0.0);
    for (int pass = 0; pass < 2; pass++) {
      std::fill(part.begin(), part.end(), 0.0);
      std::vector<float> m(C);
      if (pass == 1)
        for (int c = 0; c < C; c++) m[c] = static_cast<float>(mean[c / cg]);
      par(P, std::max(1L, GRAIN / C), [&](long p0, long p1) {
        // per channel: float32 within a block of 64 pixels, float64 across blocks, per thread then summed
        double* s = part.data() + static_cast<size_t>(std::min(static_cast<int>(p0 * T / P), T - 1)) * C;
        std::vector<float> acc(C);
        for (long q = p0; q < p1; q += 64) {
          std::fill(acc.begin(), acc.end(), 0.f);
          for (long p = q; p < std::min(p1, q + 64); p++) {
            const float* xp = xb + p * C;
            if (pass == 0)
              for (int c = 0; c < C; c++) acc[c] += xp[c];
            else
              for (int c = 0; c < C; c++) acc[c] += (xp[c] - m[c]) * (xp[c] - m[c]);
          }
          for (int c = 0; c < C; c++) s[c] += acc[c];
        }
      });
      for (int g = 0; g < groups; g++) {
        double t = 0;
        for (int k = 0; k < T; k++)
          for (int c = g * cg; c < (g + 1) * cg; c++) t += part[static_cast<size_t>(k) * C + c];
        (pass == 0 ? mean : var)[g] = t / n;
      }
    }
    std::vector<float> mu(C), a(C);
    for (int g = 0; g < groups; g++) {
      const double rstd = 1.0 / std::sqrt(var[g] + eps);
      for (int c = g * cg; c < (g + 1) * cg; c++) {
        mu[c] = static_cast<float>(mean[g]);
        a[c] = static_cast<float>(rstd * gamma[c]);
      }
    }
    par(P, std::max(1L, GRAIN / C), [&](long p0, long p1) {
      for (long p = p0; p < p1; p++) {
        const float* xp = xb + p * C;
        float* yp = yb + p * C;
        for (int c = 0; c < C; c++) {
          const float v = (xp[c] - mu[c]) * a[c] + beta[c];
          yp[c] = silu ? v / (1.f + fast_exp(-v)) : v;
        }
      }
    });
  }
}

void resample2d(const float* x, const float* mh, const float* mw, float* y, int B, int H, int W, int C, int h, int w) {
  // the non-zero taps of each row of Mh (h, H) and Mw (w, W)
  auto taps = [](const float* m, int rows, int cols, std::vector<int>& start, std::vector<int>& idx, std::vector<float>& wt) {
    start.assign(1, 0);
    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < cols; j++)
        if (m[static_cast<long>(r) * cols + j] != 0.f) {
          idx.push_back(j);
          wt.push_back(m[static_cast<long>(r) * cols + j]);
        }
      start.push_back(static_cast<int>(idx.size()));
    }
  };
  std::vector<int> hs, hi, ws, wi;
  std::vector<float> hw, ww;
  taps(mh, h, H, hs, hi, hw);
  taps(mw, w, W, ws, wi, ww);
  const long WC = static_cast<long>(W) * C;
  par(static_cast<long>(B) * h, std::max(1L, GRAIN / WC), [&](long r0, long r1) {
    std::vector<float> row(WC);
    for (long r = r0; r < r1; r++) {
      const long b = r / h, o = r % h;
      std::fill(row.begin(), row.end(), 0.f);
      for (int t = hs[o]; t < hs[o + 1]; t++) {
        const float* src = x + (b * H + hi[t]) * WC;
        const float m = hw[t];
        for (long i = 0; i < WC; i++) row[i] += m * src[i];
      }
      float* dst = y + r * w * C;
      for (int p = 0; p < w; p++) {
        float* d = dst + static_cast<long>(p) * C;
        std::fill(d, d + C, 0.f);
        for (int t = ws[p]; t < ws[p + 1]; t++) {
          const float* s = row.data() + static_cast<long>(wi[t]) * C;
          const float m = ww[t];
          for (int ch = 0; ch < C; ch++) d[ch] += m * s[ch];
        }
      }
    }
  });
}

}  // namespace ns
