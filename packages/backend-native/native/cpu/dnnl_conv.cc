// The convolutions and their two gradients through oneDNN (Debian's
// libdnnl-dev, the library PyTorch's CPU convolutions use), compiled in
// when its headers are found (NEXTSCALE_DNNL). The tensors stay in tfjs's
// layout (NHWC activations, HWIO filters); each call reorders them into the
// blocked layouts oneDNN's AVX-512/AVX2 kernels pick ("any") and back, which
// still leaves those kernels 2–4× ahead of im2col + sgemm at the VQ-VAE's
// sizes. Primitives are built once per geometry and cached. A geometry
// oneDNN declines (or a negative right padding) returns false: the caller
// takes the im2col path.
#include "kernels.h"

#ifdef NEXTSCALE_DNNL
#include <omp.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dnnl.hpp"

namespace ns {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

bool enabled = true;

struct Ctx {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream s{eng};
};
Ctx& ctx() {
  static Ctx c;
  return c;
}

// Scratch buffers for the blocked copies, grown as needed and reused by every call (one call at a time:
// tfjs runs kernels one after another on the main thread).
struct Scratch {
  std::vector<float> buf[3];
  float* get(int i, size_t bytes) {
    if (buf[i].size() * sizeof(float) < bytes) buf[i].assign(bytes / sizeof(float) + 16, 0.f);
    return buf[i].data();
  }
};
Scratch& scratch() {
  static Scratch s;
  return s;
}

struct Entry {
  memory::desc x, w, y;  // user layouts: NHWC, HWIO, NHWC
  dnnl::convolution_forward::primitive_desc fwd;
  dnnl::convolution_forward fwdPrim;
  bool haveBwd = false;
  dnnl::convolution_backward_data::primitive_desc bwdData;
  dnnl::convolution_backward_data bwdDataPrim;
  dnnl::convolution_backward_weights::primitive_desc bwdWeights;
  dnnl::convolution_backward_weights bwdWeightsPrim;
};

using Key = std::array<int, 15>;
std::map<Key, std::unique_ptr<Entry>>& cache() {
  static std::map<Key, std::unique_ptr<Entry>> c;
  return c;
}

Key keyOf(const ConvGeom& g) {
  return {g.B, g.H, g.W, g.Ci, g.Ho, g.Wo, g.Co, g.KH, g.KW, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl};
}

// nullptr where oneDNN does not take this geometry
Entry* entry(const ConvGeom& g, bool backward) {
  auto& c = cache();
  const Key k = keyOf(g);
  auto it = c.find(k);
  if (it != c.end() && !it->second) return nullptr;  // declined before
  if (it == c.end()) {
    const long prH = static_cast<long>(g.Ho - 1) * g.sh + static_cast<long>(g.KH - 1) * g.dh + 1 - g.H - g.pt;
    const long prW = static_cast<long>(g.Wo - 1) * g.sw + static_cast<long>(g.KW - 1) * g.dw + 1 - g.W - g.pl;
    std::unique_ptr<Entry> e;
    if (prH >= 0 && prW >= 0 && g.B > 0 && g.Ho > 0 && g.Wo > 0) {
      try {
        e = std::make_unique<Entry>();
        e->x = memory::desc({g.B, g.Ci, g.H, g.W}, dt::f32, tag::nhwc);
        e->w = memory::desc({g.Co, g.Ci, g.KH, g.KW}, dt::f32, tag::hwio);
        e->y = memory::desc({g.B, g.Co, g.Ho, g.Wo}, dt::f32, tag::nhwc);
        const memory::desc ax({g.B, g.Ci, g.H, g.W}, dt::f32, tag::any), aw({g.Co, g.Ci, g.KH, g.KW}, dt::f32, tag::any),
            ay({g.B, g.Co, g.Ho, g.Wo}, dt::f32, tag::any);
        const memory::dims st{g.sh, g.sw}, dil{g.dh - 1, g.dw - 1}, pl{g.pt, g.pl}, pr{prH, prW};
        e->fwd = dnnl::convolution_forward::primitive_desc(
            dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, ax, aw, ay, st,
                                            dil, pl, pr),
            ctx().eng);
        e->fwdPrim = dnnl::convolution_forward(e->fwd);
        e->bwdData = dnnl::convolution_backward_data::primitive_desc(
            dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, ax, aw, ay, st, dil, pl, pr), ctx().eng,
            e->fwd);
        e->bwdWeights = dnnl::convolution_backward_weights::primitive_desc(
            dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, ax, aw, ay, st, dil, pl, pr), ctx().eng,
            e->fwd);
      } catch (const dnnl::error&) {
        e.reset();
      }
    }
    it = c.emplace(k, std::move(e)).first;
  }
  Entry* e = it->second.get();
  if (e && backward && !e->haveBwd) {
    e->bwdDataPrim = dnnl::convolution_backward_data(e->bwdData);
    e->bwdWeightsPrim = dnnl::convolution_backward_weights(e->bwdWeights);
    e->haveBwd = true;
  }
  return e;
}

// `user` as a memory in layout `want`: itself when the layouts agree, else a reordered copy in scratch slot `slot`
memory in(const memory::desc& userMd, const float* user, const memory::desc& want, int slot) {
  auto& c = ctx();
  memory u(userMd, c.eng, const_cast<float*>(user));
  if (want == userMd) return u;
  memory m(want, c.eng, scratch().get(slot, want.get_size()));
  dnnl::reorder(u, m).execute(c.s, u, m);
  return m;
}

// a memory in layout `have` for a result that belongs in `user` (userMd): the user's buffer when they agree
memory out(const memory::desc& userMd, float* user, const memory::desc& have, int slot) {
  auto& c = ctx();
  if (have == userMd) return memory(userMd, c.eng, user);
  return memory(have, c.eng, scratch().get(slot, have.get_size()));
}

void back(const memory& m, const memory::desc& userMd, float* user) {
  auto& c = ctx();
  if (m.get_desc() == userMd) return;
  memory u(userMd, c.eng, user);
  dnnl::reorder(m, u).execute(c.s, const_cast<memory&>(m), u);
}

}  // namespace

bool dnnl_available() { return true; }
const char* dnnl_version_string() {
  static std::string v = [] {
    const dnnl_version_t* d = dnnl_version();
    return "oneDNN " + std::to_string(d->major) + "." + std::to_string(d->minor) + "." + std::to_string(d->patch);
  }();
  return v.c_str();
}
void dnnl_enable(bool on) { enabled = on; }
bool dnnl_enabled() { return enabled; }
void dnnl_threads(int n) { omp_set_num_threads(n); }

bool dnnl_conv2d(const ConvGeom& g, const float* x, const float* w, float* y) {
  if (!enabled) return false;
  Entry* e = entry(g, false);
  if (!e) return false;
  memory xm = in(e->x, x, e->fwd.src_desc(), 0);
  memory wm = in(e->w, w, e->fwd.weights_desc(), 1);
  memory ym = out(e->y, y, e->fwd.dst_desc(), 2);
  e->fwdPrim.execute(ctx().s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
  back(ym, e->y, y);
  ctx().s.wait();
  return true;
}

bool dnnl_conv2d_backprop_input(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  if (!enabled) return false;
  Entry* e = entry(g, true);
  if (!e) return false;
  memory dym = in(e->y, dy, e->bwdData.diff_dst_desc(), 0);
  memory wm = in(e->w, w, e->bwdData.weights_desc(), 1);
  memory dxm = out(e->x, dx, e->bwdData.diff_src_desc(), 2);
  e->bwdDataPrim.execute(ctx().s, {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
  back(dxm, e->x, dx);
  ctx().s.wait();
  return true;
}

bool dnnl_conv2d_backprop_filter(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  if (!enabled) return false;
  Entry* e = entry(g, true);
  if (!e) return false;
  memory xm = in(e->x, x, e->bwdWeights.src_desc(), 0);
  memory dym = in(e->y, dy, e->bwdWeights.diff_dst_desc(), 1);
  memory dwm = out(e->w, dw, e->bwdWeights.diff_weights_desc(), 2);
  e->bwdWeightsPrim.execute(ctx().s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}});
  back(dwm, e->w, dw);
  ctx().s.wait();
  return true;
}

}  // namespace ns

#else

namespace ns {
bool dnnl_available() { return false; }
const char* dnnl_version_string() { return ""; }
void dnnl_enable(bool) {}
bool dnnl_enabled() { return false; }
void dnnl_threads(int) {}
bool dnnl_conv2d(const ConvGeom&, const float*, const float*, float*) { return false; }
bool dnnl_conv2d_backprop_input(const ConvGeom&, const float*, const float*, float*) { return false; }
bool dnnl_conv2d_backprop_filter(const ConvGeom&, const float*, const float*, float*) { return false; }
}  // namespace ns

#endif
