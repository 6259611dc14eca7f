// Node binding of a CUDA device build (device.h): the same file is linked
// with device.cu by nvcc (build/nextscale_cuda.node, the GPU) and with
// emulate.cc by g++ (build/nextscale_cuda_emu.node, the host emulation).
// Device pointers cross into JavaScript as numbers (48-bit addresses are
// exact in a double); src/cuda/ owns them (its caching allocator).
#include <node_api.h>
#include <stdint.h>
#include <string.h>

#include "device.h"

namespace {

napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}
napi_value str(napi_env env, const char* s) {
  napi_value r;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
  return r;
}
double arg(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}
void* ptr(napi_env env, napi_value v) { return (void*)(uintptr_t)arg(env, v); }
const float* cf(napi_env env, napi_value v) { return (const float*)ptr(env, v); }
float* mf(napi_env env, napi_value v) { return (float*)ptr(env, v); }
/** A typed array's data and length in elements. */
void* typed(napi_env env, napi_value v, size_t* len) {
  napi_typedarray_type t;
  void* data = nullptr;
  napi_value ab;
  size_t off;
  napi_get_typedarray_info(env, v, &t, len, &data, &ab, &off);
  return data;
}
/** NsShape from Int32Arrays dims, strides a (and b). */
NsShape shape(napi_env env, napi_value dims, napi_value a, napi_value b) {
  NsShape s;
  memset(&s, 0, sizeof s);
  size_t n;
  const int32_t* d = (const int32_t*)typed(env, dims, &n);
  s.rank = (int)n;
  const int32_t* sa = (const int32_t*)typed(env, a, &n);
  const int32_t* sb = b ? (const int32_t*)typed(env, b, &n) : nullptr;
  for (int i = 0; i < s.rank && i < NS_MAX_RANK; i++) {
    s.dims[i] = d[i];
    s.a[i] = sa[i];
    s.b[i] = sb ? sb[i] : 0;
  }
  return s;
}

#define ARGS(N)              \
  size_t argc = N;           \
  napi_value argv[N];        \
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr)

napi_value Init(napi_env env, napi_callback_info) {
  char why[512] = "";
  return str(env, ns_init(why, sizeof why) ? why : "");
}
napi_value DeviceName(napi_env env, napi_callback_info) { return str(env, ns_device_name()); }
napi_value GemmName(napi_env env, napi_callback_info) { return str(env, ns_gemm_name()); }
napi_value LastError(napi_env env, napi_callback_info) { return str(env, ns_last_error()); }
napi_value Alloc(napi_env env, napi_callback_info info) {
  ARGS(1);
  return num(env, (double)(uintptr_t)ns_alloc((size_t)arg(env, argv[0])));
}
napi_value Free(napi_env env, napi_callback_info info) {
  ARGS(1);
  ns_free(ptr(env, argv[0]));
  return nullptr;
}
napi_value CopyIn(napi_env env, napi_callback_info info) {
  ARGS(2);
  size_t n;
  const float* src = (const float*)typed(env, argv[1], &n);
  if (n) ns_copy_in(ptr(env, argv[0]), src, n);
  return nullptr;
}
napi_value CopyOut(napi_env env, napi_callback_info info) {
  ARGS(2);
  size_t n;
  float* dst = (float*)typed(env, argv[1], &n);
  if (n) ns_copy_out(dst, ptr(env, argv[0]), n);
  return nullptr;
}
napi_value Sync(napi_env env, napi_callback_info) {
  ns_sync();
  return nullptr;
}
// binary(op, a, b, out, n, dims, aStrides, bStrides)
napi_value Binary(napi_env env, napi_callback_info info) {
  ARGS(8);
  ns_binary((int)arg(env, argv[0]), cf(env, argv[1]), cf(env, argv[2]), mf(env, argv[3]), (long)arg(env, argv[4]),
            shape(env, argv[5], argv[6], argv[7]));
  return nullptr;
}
// unary(op, x, y, n)
napi_value Unary(napi_env env, napi_callback_info info) {
  ARGS(4);
  ns_unary((int)arg(env, argv[0]), cf(env, argv[1]), mf(env, argv[2]), (long)arg(env, argv[3]));
  return nullptr;
}
// stridedCopy(x, y, n, dims, xStrides, yStrides): x and y already offset to their first element
napi_value StridedCopy(napi_env env, napi_callback_info info) {
  ARGS(6);
  ns_strided_copy(cf(env, argv[0]), mf(env, argv[1]), (long)arg(env, argv[2]), shape(env, argv[3], argv[4], argv[5]));
  return nullptr;
}
// reduce(op, x, y, outer, inner)
napi_value Reduce(napi_env env, napi_callback_info info) {
  ARGS(5);
  ns_reduce((int)arg(env, argv[0]), cf(env, argv[1]), mf(env, argv[2]), (long)arg(env, argv[3]), (long)arg(env, argv[4]));
  return nullptr;
}
// softmax(x, y, rows, n)
napi_value Softmax(napi_env env, napi_callback_info info) {
  ARGS(4);
  ns_softmax(cf(env, argv[0]), mf(env, argv[1]), (long)arg(env, argv[2]), (long)arg(env, argv[3]));
  return nullptr;
}
// matmul(a, b, c, batchA, batchB, M, N, K, tA, tB)
napi_value Matmul(napi_env env, napi_callback_info info) {
  ARGS(10);
  long v[5];
  for (int i = 0; i < 5; i++) v[i] = (long)arg(env, argv[3 + i]);
  bool tA = false, tB = false;
  napi_get_value_bool(env, argv[8], &tA);
  napi_get_value_bool(env, argv[9], &tB);
  ns_matmul(cf(env, argv[0]), cf(env, argv[1]), mf(env, argv[2]), v[0], v[1], v[2], v[3], v[4], tA, tB);
  return nullptr;
}
// adaLN(x, scale, shift, y, B, L, C, eps)
napi_value AdaLN(napi_env env, napi_callback_info info) {
  ARGS(8);
  ns_ada_ln(cf(env, argv[0]), cf(env, argv[1]), cf(env, argv[2]), mf(env, argv[3]), (long)arg(env, argv[4]), (long)arg(env, argv[5]),
            (long)arg(env, argv[6]), (float)arg(env, argv[7]));
  return nullptr;
}

long L(napi_env env, napi_value v) { return (long)arg(env, v); }
// kvAttention(q, k, v, o, BH, Lq, Lk, c, scale)
napi_value KVAttention(napi_env env, napi_callback_info info) {
  ARGS(9);
  ns_kv_attention(cf(env, argv[0]), cf(env, argv[1]), cf(env, argv[2]), mf(env, argv[3]), L(env, argv[4]), L(env, argv[5]), L(env, argv[6]),
                  L(env, argv[7]), (float)arg(env, argv[8]));
  return nullptr;
}
// groupNormAct(x, gamma, beta, y, B, P, C, groups, eps, silu)
napi_value GroupNormAct(napi_env env, napi_callback_info info) {
  ARGS(10);
  bool silu = false;
  napi_get_value_bool(env, argv[9], &silu);
  ns_group_norm_act(cf(env, argv[0]), cf(env, argv[1]), cf(env, argv[2]), mf(env, argv[3]), L(env, argv[4]), L(env, argv[5]), L(env, argv[6]),
                    L(env, argv[7]), (float)arg(env, argv[8]), silu);
  return nullptr;
}
// resample2d(x, mh, mw, y, B, H, W, C, h, w)
napi_value Resample2d(napi_env env, napi_callback_info info) {
  ARGS(10);
  ns_resample2d(cf(env, argv[0]), cf(env, argv[1]), cf(env, argv[2]), mf(env, argv[3]), L(env, argv[4]), L(env, argv[5]), L(env, argv[6]),
                L(env, argv[7]), L(env, argv[8]), L(env, argv[9]));
  return nullptr;
}

NsConv conv_geom(napi_env env, napi_value v) {
  size_t n;
  const int32_t* g = (const int32_t*)typed(env, v, &n);
  NsConv c;
  memcpy(&c, g, sizeof c);  // 15 int32 in NsConv's order (src/device.ts's geom)
  return c;
}
// im2col(geom, x, col)
napi_value Im2col(napi_env env, napi_callback_info info) {
  ARGS(3);
  ns_im2col(cf(env, argv[1]), mf(env, argv[2]), conv_geom(env, argv[0]));
  return nullptr;
}
// conv2dBackpropInput(geom, dy, w, dx)
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  ARGS(4);
  ns_conv2d_backprop_input(cf(env, argv[1]), cf(env, argv[2]), mf(env, argv[3]), conv_geom(env, argv[0]));
  return nullptr;
}

napi_value Register(napi_env env, napi_value exports) {
  const struct {
    const char* name;
    napi_callback f;
  } fs[] = {{"init", Init},       {"deviceName", DeviceName}, {"gemmName", GemmName}, {"lastError", LastError}, {"alloc", Alloc},
            {"free", Free},       {"copyIn", CopyIn},         {"copyOut", CopyOut},   {"sync", Sync},           {"binary", Binary},
            {"unary", Unary},     {"stridedCopy", StridedCopy}, {"reduce", Reduce},   {"softmax", Softmax},     {"matmul", Matmul},
            {"adaLN", AdaLN},     {"kvAttention", KVAttention}, {"groupNormAct", GroupNormAct}, {"resample2d", Resample2d},
            {"im2col", Im2col},   {"conv2dBackpropInput", Conv2dBackpropInput}};
  for (const auto& e : fs) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.f, nullptr, &fn);
    napi_set_named_property(env, exports, e.name, fn);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Register)
