// SwiGLU activation of the Llama MLP, h = silu(gate) * up, forward and backward.
#include <cmath>
#include "kernels/kernels.h"
#include "kernels/vexp.h"
#include "ops/ops.h"

namespace peft::ops {

#if defined(__AVX512F__)
static inline __m512 sigmoid512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.f);
  return _mm512_div_ps(one, _mm512_add_ps(one, kern::exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}
#endif

void swiglu_forward(float* h, const float* g, const float* u, size_t n, bool fast) {
  const int chunks = (int)((n + 4095) / 4096);
  par_rows(chunks, 4096, [&](int b, int e) {
    size_t lo = (size_t)b * 4096, hi = std::min(n, (size_t)e * 4096);
#if defined(__AVX512F__)
    if (fast)
      for (; lo + 16 <= hi; lo += 16) {
        const __m512 x = _mm512_loadu_ps(g + lo);
        _mm512_storeu_ps(h + lo, _mm512_mul_ps(_mm512_mul_ps(x, sigmoid512(x)), _mm512_loadu_ps(u + lo)));
      }
#else
    (void)fast;
#endif
    for (size_t i = lo; i < hi; i++) {
      float x = g[i];
      h[i] = x / (1.f + std::exp(-x)) * u[i];
    }
  });
}

void swiglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, size_t n, bool fast) {
  const int chunks = (int)((n + 4095) / 4096);
  par_rows(chunks, 4096, [&](int b, int e) {
    size_t lo = (size_t)b * 4096, hi = std::min(n, (size_t)e * 4096);
#if defined(__AVX512F__)
    if (fast) {
      const __m512 one = _mm512_set1_ps(1.f);
      for (; lo + 16 <= hi; lo += 16) {
        const __m512 x = _mm512_loadu_ps(g + lo), sig = sigmoid512(x), d = _mm512_loadu_ps(dh + lo);
        const __m512 uu = _mm512_loadu_ps(u + lo); // every input read before any output is written: in place is safe
        const __m512 t = _mm512_fmadd_ps(x, _mm512_sub_ps(one, sig), one); // 1 + x (1 - sig)
        _mm512_storeu_ps(du + lo, _mm512_mul_ps(d, _mm512_mul_ps(x, sig)));
        _mm512_storeu_ps(dg + lo, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, uu), sig), t));
      }
    }
#else
    (void)fast;
#endif
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

} // namespace peft::ops
