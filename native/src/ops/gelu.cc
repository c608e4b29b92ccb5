// gelu_new (GPT-2's tanh approximation of GELU): h = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))), and its
// derivative for the backward, element-wise over the pool.
#include <cmath>
#include "ops/ops.h"

namespace peft::ops {

static constexpr float GELU_K = 0.7978845608028654f; // sqrt(2 / pi)
static constexpr float GELU_C = 0.044715f;

void gelu_new_forward(float* h, const float* u, size_t n) {
  par_chunks(n, 4096, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++) {
      const float x = u[i];
      h[i] = 0.5f * x * (1.0f + std::tanh(GELU_K * (x + GELU_C * x * x * x)));
    }
  });
}

void gelu_new_backward(float* du, const float* dh, const float* u, size_t n) {
  par_chunks(n, 4096, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++) {
      const float x = u[i];
      const float t = std::tanh(GELU_K * (x + GELU_C * x * x * x));
      const float d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
      du[i] = dh[i] * d;
    }
  });
}

} // namespace peft::ops
