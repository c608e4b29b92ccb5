// Vectorised float exp (Cephes polynomial, ~1-2 ulp, exp(x < -103) = 0) and the row reductions built on it that the
// fused softmax / cross-entropy kernels use: max, sum of exp(x - m), in-place exp(x - m) * s. AVX-512 where the
// build targets it, a scalar loop over std::exp otherwise.
#pragma once
#include <cmath>
#include <cstddef>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace peft::kern {

#if defined(__AVX512F__)
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-103.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500E-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);
}
#endif

inline float vmax(const float* x, size_t n) {
  size_t i = 0;
  float m = -INFINITY;
#if defined(__AVX512F__)
  __m512 vm = _mm512_set1_ps(-INFINITY);
  for (; i + 16 <= n; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + i));
  m = _mm512_reduce_max_ps(vm);
#endif
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

// sum_i exp(x_i - m), accumulated in 16 float lanes then in double.
inline double vsumexp(const float* x, size_t n, float m) {
  size_t i = 0;
  double s = 0;
#if defined(__AVX512F__)
  const __m512 vm = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) acc = _mm512_add_ps(acc, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm)));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  for (float v : lanes) s += v;
  for (; i < n; i++) s += _mm512_cvtss_f32(exp512(_mm512_set1_ps(x[i] - m)));
#else
  for (; i < n; i++) s += std::exp(x[i] - m);
#endif
  return s;
}

// x_i = exp(x_i - m) * scale in place.
inline void vexp_scale(float* x, size_t n, float m, float scale) {
  size_t i = 0;
#if defined(__AVX512F__)
  const __m512 vm = _mm512_set1_ps(m), vs = _mm512_set1_ps(scale);
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(x + i, _mm512_mul_ps(exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm)), vs));
  if (i < n) {
    const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm)), vs));
  }
#else
  for (; i < n; i++) x[i] = std::exp(x[i] - m) * scale;
#endif
}

} // namespace peft::kern
