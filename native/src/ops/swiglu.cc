// SwiGLU activation of the Llama MLP, h = silu(gate) * up, forward and backward.
#include <cmath>
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace peft::ops {

void swiglu_forward(float* h, const float* g, const float* u, size_t n) {
  const int chunks = (int)((n + 4095) / 4096);
  par_rows(chunks, 4096, [&](int b, int e) {
    size_t lo = (size_t)b * 4096, hi = std::min(n, (size_t)e * 4096);
    for (size_t i = lo; i < hi; i++) {
      float x = g[i];
      h[i] = x / (1.f + std::exp(-x)) * u[i];
    }
  });
}

void swiglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, size_t n) {
  const int chunks = (int)((n + 4095) / 4096);
  par_rows(chunks, 4096, [&](int b, int e) {
    size_t lo = (size_t)b * 4096, hi = std::min(n, (size_t)e * 4096);
    for (size_t i = lo; i < hi; i++) {
      float x = g[i];
      float sig = 1.f / (1.f + std::exp(-x));
      float silu = x * sig;
      du[i] = dh[i] * silu;
      dg[i] = dh[i] * u[i] * sig * (1.f + x * (1.f - sig));
    }
  });
}

} // namespace peft::ops
