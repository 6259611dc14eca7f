// N-API entry points of @nextscale/backend-native: each takes Float32Arrays
// (inputs, and the output the JS side allocated) plus sizes, and runs one
// kernel of the CPU device synchronously. src/device.ts declares them.
#include <dlfcn.h>
#include <node_api.h>

#include <string>
#include <vector>

#include "cpu/kernels.h"

namespace {

struct Args {
  napi_env env;
  std::vector<napi_value> v;
  bool ok = true;
  Args(napi_env e, napi_callback_info info, size_t n) : env(e), v(n) {
    size_t argc = n;
    napi_get_cb_info(e, info, &argc, v.data(), nullptr, nullptr);
    if (argc < n) fail("expected " + std::to_string(n) + " arguments");
  }
  void fail(const std::string& msg) {
    if (ok) napi_throw_type_error(env, nullptr, ("backend-native: " + msg).c_str());
    ok = false;
  }
  template <typename T>
  T* array(size_t i, napi_typedarray_type want) {
    bool is = false;
    napi_is_typedarray(env, v[i], &is);
    if (!is) {
      napi_valuetype t;
      napi_typeof(env, v[i], &t);
      if (t == napi_null || t == napi_undefined) return nullptr;
      fail("argument " + std::to_string(i) + " is not a typed array");
      return nullptr;
    }
    napi_typedarray_type type;
    size_t len;
    void* data;
    napi_get_typedarray_info(env, v[i], &type, &len, &data, nullptr, nullptr);
    if (type != want) fail("argument " + std::to_string(i) + " has the wrong typed array type");
    return static_cast<T*>(data);
  }
  float* f32(size_t i) { return array<float>(i, napi_float32_array); }
  int* i32arr(size_t i) { return array<int>(i, napi_int32_array); }
  int i32(size_t i) {
    int32_t x = 0;
    if (napi_get_value_int32(env, v[i], &x) != napi_ok) fail("argument " + std::to_string(i) + " is not a number");
    return x;
  }
  double f64(size_t i) {
    double x = 0;
    if (napi_get_value_double(env, v[i], &x) != napi_ok) fail("argument " + std::to_string(i) + " is not a number");
    return x;
  }
  bool b(size_t i) {
    bool x = false;
    if (napi_get_value_bool(env, v[i], &x) != napi_ok) fail("argument " + std::to_string(i) + " is not a boolean");
    return x;
  }
};

napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value str(napi_env env, const std::string& s) {
  napi_value r;
  napi_create_string_utf8(env, s.c_str(), s.size(), &r);
  return r;
}

#define KERNEL(name, n) \
  napi_value name(napi_env env, napi_callback_info info) { \
    Args a(env, info, n);
#define END \
  return undef(env); \
  }

// matmul(a, b, c, batchA, batchB, M, N, K, tA, tB)
KERNEL(Matmul, 10)
auto *A = a.f32(0), *B = a.f32(1), *C = a.f32(2);
int ba = a.i32(3), bb = a.i32(4), M = a.i32(5), N = a.i32(6), K = a.i32(7);
bool tA = a.b(8), tB = a.b(9);
if (a.ok) ns::matmul(A, B, C, ba, bb, M, N, K, tA, tB);
END

// biasAct(c, bias|null, rows, N, perColumn, act, alpha)
KERNEL(BiasAct, 7)
auto *C = a.f32(0), *bias = a.f32(1);
int rows = a.i32(2), N = a.i32(3);
bool per = a.b(4);
int act = a.i32(5);
double alpha = a.f64(6);
if (a.ok) ns::bias_act(C, bias, rows, N, per, act, static_cast<float>(alpha));
END

bool geom(Args& a, size_t i, ns::ConvGeom& g) {
  int* p = a.i32arr(i);
  if (!p) {
    a.fail("conv geometry missing");
    return false;
  }
  g = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14]};
  return a.ok;
}

// conv2d(geom Int32Array(15), x, w, y), conv2dBackpropFilter(geom, x, dy, dw), conv2dBackpropInput(geom, dy, w, dx)
KERNEL(Conv2d, 4)
ns::ConvGeom g;
auto *x = a.f32(1), *w = a.f32(2), *y = a.f32(3);
if (geom(a, 0, g)) ns::conv2d(g, x, w, y);
END
KERNEL(Conv2dBackpropFilter, 4)
ns::ConvGeom g;
auto *x = a.f32(1), *dy = a.f32(2), *dw = a.f32(3);
if (geom(a, 0, g)) ns::conv2d_backprop_filter(g, x, dy, dw);
END
KERNEL(Conv2dBackpropInput, 4)
ns::ConvGeom g;
auto *dy = a.f32(1), *w = a.f32(2), *dx = a.f32(3);
if (geom(a, 0, g)) ns::conv2d_backprop_input(g, dy, w, dx);
END

// binary(op, a, b, out, shape Int32Array, aStrides Int32Array, bStrides Int32Array)
KERNEL(Binary, 7)
int op = a.i32(0);
auto *x = a.f32(1), *y = a.f32(2), *o = a.f32(3);
int *shape = a.i32arr(4), *as = a.i32arr(5), *bs = a.i32arr(6);
size_t rank = 0;
napi_get_typedarray_info(env, a.v[4], nullptr, &rank, nullptr, nullptr, nullptr);
std::vector<long> sa(as, as + rank), sb(bs, bs + rank);
if (a.ok) ns::binary(op, x, y, o, static_cast<int>(rank), shape, sa.data(), sb.data());
END

// stridedCopy(x, y, shape Int32Array, xStrides Int32Array)
KERNEL(StridedCopy, 4)
auto *x = a.f32(0), *y = a.f32(1);
int *shape = a.i32arr(2), *xs = a.i32arr(3);
size_t rank = 0;
napi_get_typedarray_info(env, a.v[2], nullptr, &rank, nullptr, nullptr, nullptr);
std::vector<long> sx(xs, xs + rank);
if (a.ok) ns::strided_copy(x, y, static_cast<int>(rank), shape, sx.data());
END

// unary(op, x, y)
KERNEL(Unary, 3)
int op = a.i32(0);
auto *x = a.f32(1), *y = a.f32(2);
size_t n = 0;
napi_get_typedarray_info(env, a.v[1], nullptr, &n, nullptr, nullptr, nullptr);
if (a.ok) ns::unary(op, x, y, static_cast<long>(n));
END

// softmax(x, y, rows, n)
KERNEL(Softmax, 4)
auto *x = a.f32(0), *y = a.f32(1);
int rows = a.i32(2), n = a.i32(3);
if (a.ok) ns::softmax(x, y, rows, n);
END

// reduce(op, x, y, outer, inner)
KERNEL(Reduce, 5)
int op = a.i32(0);
auto *x = a.f32(1), *y = a.f32(2);
int outer = a.i32(3), inner = a.i32(4);
if (a.ok) ns::reduce(op, x, y, outer, inner);
END

// reduceOuter(op, x, y, rows, cols): over the first axis
KERNEL(ReduceOuter, 5)
int op = a.i32(0);
auto *x = a.f32(1), *y = a.f32(2);
int rows = a.i32(3), cols = a.i32(4);
if (a.ok) ns::reduce_outer(op, x, y, rows, cols);
END

// adaLNModulate(x, scale, shift, y, B, L, C, eps)
KERNEL(AdaLN, 8)
auto *x = a.f32(0), *s = a.f32(1), *t = a.f32(2), *y = a.f32(3);
int B = a.i32(4), L = a.i32(5), C = a.i32(6);
double eps = a.f64(7);
if (a.ok) ns::ada_ln_modulate(x, s, t, y, B, L, C, static_cast<float>(eps));
END

// kvAttention(q, k, v, o, BH, Lq, Lk, c, scale)
KERNEL(KvAttention, 9)
auto *q = a.f32(0), *k = a.f32(1), *v = a.f32(2), *o = a.f32(3);
int BH = a.i32(4), Lq = a.i32(5), Lk = a.i32(6), c = a.i32(7);
double scale = a.f64(8);
if (a.ok) ns::kv_attention(q, k, v, o, BH, Lq, Lk, c, static_cast<float>(scale));
END

// groupNormAct(x, gamma, beta, y, B, P, C, groups, eps, silu)
KERNEL(GroupNormAct, 10)
auto *x = a.f32(0), *g = a.f32(1), *be = a.f32(2), *y = a.f32(3);
int B = a.i32(4), P = a.i32(5), C = a.i32(6), G = a.i32(7);
double eps = a.f64(8);
bool silu = a.b(9);
if (a.ok) ns::group_norm_act(x, g, be, y, B, P, C, G, static_cast<float>(eps), silu);
END

// groupNormActGrad(x, gamma, beta, dy, dx, dgamma, dbeta, B, P, C, groups, eps, silu)
KERNEL(GroupNormActGrad, 13)
auto *x = a.f32(0), *g = a.f32(1), *be = a.f32(2), *dy = a.f32(3), *dx = a.f32(4), *dg = a.f32(5), *db = a.f32(6);
int B = a.i32(7), P = a.i32(8), C = a.i32(9), G = a.i32(10);
double eps = a.f64(11);
bool silu = a.b(12);
if (a.ok) ns::group_norm_act_grad(x, g, be, dy, dx, dg, db, B, P, C, G, static_cast<float>(eps), silu);
END

// geluTanh(x, y, n), geluTanhGrad(x, dy, dx, n)
KERNEL(GeluTanh, 3)
auto *x = a.f32(0), *y = a.f32(1);
double n = a.f64(2);
if (a.ok) ns::gelu_tanh(x, y, static_cast<long>(n));
END

KERNEL(GeluTanhGrad, 4)
auto *x = a.f32(0), *dy = a.f32(1), *dx = a.f32(2);
double n = a.f64(3);
if (a.ok) ns::gelu_tanh_grad(x, dy, dx, static_cast<long>(n));
END

// adamWUpdate(p, grad, m, v, gradScale | null, pOut, mOut, vOut, n, consts Float32Array(8): decay, β1, 1 − β1, β2, 1 − β2,
// √(1 − β2^t), eps, −step size)
KERNEL(AdamWUpdate, 10)
auto *p = a.f32(0), *g = a.f32(1), *m = a.f32(2), *v = a.f32(3), *gs = a.f32(4), *po = a.f32(5), *mo = a.f32(6), *vo = a.f32(7);
double n = a.f64(8);
const float* k = a.f32(9);
if (a.ok && k) {
  const ns::AdamWConsts c{k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]};
  ns::adamw_update(p, g, m, v, gs, po, mo, vo, static_cast<long>(n), c);
}
END

// resample2d(x, mh, mw, y, B, H, W, C, h, w)
KERNEL(Resample2d, 10)
auto *x = a.f32(0), *mh = a.f32(1), *mw = a.f32(2), *y = a.f32(3);
int B = a.i32(4), H = a.i32(5), W = a.i32(6), C = a.i32(7), h = a.i32(8), w = a.i32(9);
if (a.ok) ns::resample2d(x, mh, mw, y, B, H, W, C, h, w);
END

// setThreads(n)
KERNEL(SetThreads, 1)
int n = a.i32(0);
if (a.ok && n >= 1) ns::set_threads(n);
END

napi_value Info(napi_env env, napi_callback_info) {
  napi_value o;
  napi_create_object(env, &o);
  napi_value t;
  napi_create_int32(env, ns::threads(), &t);
  napi_set_named_property(env, o, "threads", t);
  napi_set_named_property(env, o, "blas", str(env, std::string(ns::blas_config())));
  napi_set_named_property(env, o, "dnnl", str(env, std::string(ns::dnnl_version_string())));
  napi_value on;
  napi_get_boolean(env, ns::dnnl_enabled(), &on);
  napi_set_named_property(env, o, "dnnlEnabled", on);
  return o;
}

// useDnnl(on): the convolutions through oneDNN (where built with it) or im2col + sgemm
KERNEL(UseDnnl, 1)
int on = a.i32(0);
if (a.ok) ns::dnnl_enable(on != 0);
END

// cudaProbe(libraryPath): the CUDA device's library (built by nvcc) says whether it finds a device.
// Returns "" when a device is usable, else the reason.
napi_value CudaProbe(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  size_t len = 0;
  napi_get_value_string_utf8(env, a.v[0], nullptr, 0, &len);
  std::string path(len, '\0');
  napi_get_value_string_utf8(env, a.v[0], path.data(), len + 1, &len);
  // the CUDA runtime is linked statically; it needs the driver's libcuda.so.1
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver) return str(env, "no CUDA driver (libcuda.so.1 cannot be loaded: no NVIDIA GPU driver on this machine)");
  dlclose(driver);
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) return str(env, std::string("cannot load ") + path + ": " + dlerror());
  using Probe = int (*)(char*, int);
  auto probe = reinterpret_cast<Probe>(dlsym(lib, "nextscale_cuda_probe"));
  if (!probe) return str(env, "the library has no nextscale_cuda_probe");
  char buf[512] = {0};
  int devices = probe(buf, sizeof buf);
  return str(env, devices > 0 ? "" : std::string(buf));
}

napi_value Init(napi_env env, napi_value exports) {
  ns::threads();  // starts the pool and sets OpenBLAS's thread count
  napi_property_descriptor props[] = {
#define P(js, fn) {js, nullptr, fn, nullptr, nullptr, nullptr, napi_default, nullptr}
      P("matmul", Matmul),
      P("biasAct", BiasAct),
      P("conv2d", Conv2d),
      P("useDnnl", UseDnnl),
      P("conv2dBackpropFilter", Conv2dBackpropFilter),
      P("conv2dBackpropInput", Conv2dBackpropInput),
      P("binary", Binary),
      P("unary", Unary),
      P("stridedCopy", StridedCopy),
      P("softmax", Softmax),
      P("reduce", Reduce),
      P("reduceOuter", ReduceOuter),
      P("adaLNModulate", AdaLN),
      P("kvAttention", KvAttention),
      P("groupNormAct", GroupNormAct),
      P("groupNormActGrad", GroupNormActGrad),
      P("adamWUpdate", AdamWUpdate),
      P("geluTanh", GeluTanh),
      P("geluTanhGrad", GeluTanhGrad),
      P("resample2d", Resample2d),
      P("setThreads", SetThreads),
      P("info", Info),
      P("cudaProbe", CudaProbe),
#undef P
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
