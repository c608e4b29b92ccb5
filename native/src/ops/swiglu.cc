// SwiGLU activation of the Llama MLP, h = silu(gate) * up, forward and backward; and the bf16-training variants that
// keep gate / up in bf16 within the same pass (these ops are memory-bound: fewer passes over N x I arrays). `fast`
// runs the active ISA's vectorised body (kernels/simd.h); otherwise the std::exp reference loop.
#include <algorithm>
#include <cmath>
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "ops/ops.h"

namespace peft::ops {

void swiglu_forward(float* h, const float* g, const float* u, size_t n, bool fast) {
  const int chunks = (int)((n + 4095) / 4096);
  const kern::SimdKernels& K = kern::simd();
  par_rows(chunks, 4096, [&](int b, int e) {
    size_t lo = (size_t)b * 4096, hi = std::min(n, (size_t)e * 4096);
    if (fast) return K.swiglu_fwd(h + lo, g + lo, u + lo, hi - lo);
    for (size_t i = lo; i < hi; i++) {
      float x = g[i];
      h[i] = x / (1.f + std::exp(-x)) * u[i];
    }
  });
}

void swiglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, size_t n, bool fast) {
  const int chunks = (int)((n + 4095) / 4096);
  const kern::SimdKernels& K = kern::simd();
  par_rows(chunks, 4096, [&](int b, int e) {
    size_t lo = (size_t)b * 4096, hi = std::min(n, (size_t)e * 4096);
    if (fast) return K.swiglu_bwd(dg + lo, du + lo, dh + lo, g + lo, u + lo, hi - lo);
    for (size_t i = lo; i < hi; i++) {
      float x = g[i];
      float sig = 1.f / (1.f + std::exp(-x));
      float silu = x * sig;
      const float d = dh[i], uu = u[i];
      du[i] = d * silu;
      dg[i] = d * uu * sig * (1.f + x * (1.f - sig));
    }
  });
}

// bf16-compute training: gate / up written as bf16 (kept for the backward) in the same pass as the forward, and the
// recompute / backward reading those bf16 copies: fewer passes over N x I arrays (these ops are memory-bound).
static constexpr size_t KEEP_CHUNK = 2048;

// fn(lo, len, g, u) over [0, n) in KEEP_CHUNK pieces, with that piece of the bf16 gate / up widened to fp32 (exact).
template <typename F>
static void over_widened(const uint16_t* g16, const uint16_t* u16, size_t n, F fn) {
  par_chunks(n, KEEP_CHUNK, [&](size_t lo, size_t hi) {
    float g[KEEP_CHUNK], u[KEEP_CHUNK];
    kern::bf16_to_f32(g16 + lo, g, hi - lo);
    kern::bf16_to_f32(u16 + lo, u, hi - lo);
    fn(lo, hi - lo, g, u);
  });
}

void swiglu_forward_keep_bf16(float* h, const float* g, const float* u, uint16_t* g16, uint16_t* u16, size_t n) {
  par_chunks(n, KEEP_CHUNK, [&](size_t lo, size_t hi) {
    swiglu_forward(h + lo, g + lo, u + lo, hi - lo, true);
    kern::f32_to_bf16(g + lo, g16 + lo, hi - lo);
    kern::f32_to_bf16(u + lo, u16 + lo, hi - lo);
  });
}

void swiglu_forward_from_bf16(float* h, const uint16_t* g16, const uint16_t* u16, size_t n) {
  over_widened(g16, u16, n,
               [&](size_t lo, size_t len, const float* g, const float* u) { swiglu_forward(h + lo, g, u, len, true); });
}

void swiglu_backward_from_bf16(float* dg, float* du, const float* dh, const uint16_t* g16, const uint16_t* u16,
                               size_t n) {
  over_widened(g16, u16, n, [&](size_t lo, size_t len, const float* g, const float* u) {
    swiglu_backward(dg + lo, du + lo, dh + lo, g, u, len, true);
  });
}

void swiglu_forward_bf16_to_bf16(uint16_t* h16, const uint16_t* g16, const uint16_t* u16, size_t n) {
  over_widened(g16, u16, n, [&](size_t lo, size_t len, const float* g, const float* u) {
    float h[KEEP_CHUNK];
    swiglu_forward(h, g, u, len, true);
    kern::f32_to_bf16(h, h16 + lo, len);
  });
}

} // namespace peft::ops
