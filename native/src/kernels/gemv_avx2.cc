// AVX2 + FMA decode GEMVs (built with -mavx2 -mfma -mf16c -mno-avx512f, so an AVX-512 build machine still gets a
// path that runs on Zen 2/3 and Intel client CPUs). NF4 codes are looked up with two 8-entry permutes and a blend (nf4_lookup_avx2.h).
#include "kernels/gemv_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include "kernels/nf4_lookup_avx2.h"

namespace peft::kern {
namespace {

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

void nf4_rows(const Nf4View& w, const float* x, int T, float* y, int o0, int o1) {
  const int per_row = w.cols / 64;
  const __m256 lo_tab = _mm256_loadu_ps(w.code), hi_tab = _mm256_loadu_ps(w.code + 8);
  for (int o = o0; o < o1; o++) {
    __m256 acc[32];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < per_row; b++) {
      const size_t blk = (size_t)o * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      const __m256 va = _mm256_set1_ps(nf4_view_absmax(w, blk));
      __m256 wv[8];
      for (int q = 0; q < 8; q++) wv[q] = _mm256_mul_ps(nf4_lookup8(p + 4 * q, lo_tab, hi_tab), va);
      const float* xb = x + (size_t)b * 64;
      for (int t = 0; t < T; t++) {
        const float* xr = xb + (size_t)t * w.cols;
        __m256 c0 = _mm256_fmadd_ps(wv[0], _mm256_loadu_ps(xr), acc[t]);
        __m256 c1 = _mm256_mul_ps(wv[1], _mm256_loadu_ps(xr + 8));
        for (int q = 2; q < 8; q += 2) {
          c0 = _mm256_fmadd_ps(wv[q], _mm256_loadu_ps(xr + 8 * q), c0);
          c1 = _mm256_fmadd_ps(wv[q + 1], _mm256_loadu_ps(xr + 8 * q + 8), c1);
        }
        acc[t] = _mm256_add_ps(c0, c1);
      }
    }
    for (int t = 0; t < T; t++) y[(size_t)t * w.rows + o] = hsum(acc[t]);
  }
}

void f32_rows(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1) {
  for (int o = o0; o < o1; o++) {
    const float* wr = W + (size_t)o * in;
    for (int t = 0; t < T; t++) {
      const float* xr = x + (size_t)t * in;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      int i = 0;
      for (; i + 32 <= in; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(xr + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 8), _mm256_loadu_ps(xr + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 16), _mm256_loadu_ps(xr + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 24), _mm256_loadu_ps(xr + i + 24), a3);
      }
      for (; i + 8 <= in; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(xr + i), a0);
      float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
      for (; i < in; i++) s += wr[i] * xr[i];
      y[(size_t)t * out + o] = s;
    }
  }
}

} // namespace

const Nf4GemvRows nf4_gemv_rows_avx2 = nf4_rows;
const GemvF32Rows gemv_f32_rows_avx2 = f32_rows;

} // namespace peft::kern
#else
namespace peft::kern {
const Nf4GemvRows nf4_gemv_rows_avx2 = nullptr;
const GemvF32Rows gemv_f32_rows_avx2 = nullptr;
} // namespace peft::kern
#endif
