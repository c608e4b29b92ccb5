// The AVX2 + FMA kernel table (simd.h; built with -mavx2 -mfma -mf16c and no AVX-512: Haswell, Zen 1-3 and later).
// exp's 2^n is two exact power-of-two products (one rounding, as AVX-512's scalef), so its results are the same bits.
#include "kernels/simd.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include <cmath>
#include <cstring>
#include "kernels/nf4_lookup_avx2.h"

namespace peft::kern {
namespace {

struct V {
  using R = __m256;
  static constexpr int W = 8;
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static R set1(float x) { return _mm256_set1_ps(x); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R div(R a, R b) { return _mm256_div_ps(a, b); }
  static R fmadd(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R fnmadd(R a, R b, R c) { return _mm256_fnmadd_ps(a, b, c); }
  static R min(R a, R b) { return _mm256_min_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static R round(R x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p 2^n for integral n in [-149, 128]: 2^(n/2) and 2^(n - n/2) are both normal, the first product is exact.
  static R scale2n(R p, R n) {
    const __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  }
  static float hmax(R v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
};

struct G : V {
  static constexpr int MR = 6;
};

inline void nf4_block_f32(const uint8_t* p, float a, const float* code, float* out) {
  const __m256 lo_tab = _mm256_loadu_ps(code), hi_tab = _mm256_loadu_ps(code + 8), va = _mm256_set1_ps(a);
  for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + 8 * q, _mm256_mul_ps(nf4_lookup8(p + 4 * q, lo_tab, hi_tab), va));
}

// 32 double lanes: element i + 4m + j of each 32-chunk in lane j of acc[m]; the lanes summed as simd.h fixes.
double dot_d(const float* a, const float* b, const float* c, int n) {
  int i = 0;
  __m256d acc[8];
  for (auto& v : acc) v = _mm256_setzero_pd();
  for (; i + 32 <= n; i += 32)
    for (int m = 0; m < 8; m++) {
      __m256d p =
          _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i + 4 * m)), _mm256_cvtps_pd(_mm_loadu_ps(b + i + 4 * m)));
      if (c) p = _mm256_mul_pd(p, _mm256_cvtps_pd(_mm_loadu_ps(c + i + 4 * m)));
      acc[m] = _mm256_add_pd(acc[m], p);
    }
  double lanes[8], s = 0;
  _mm256_storeu_pd(lanes, _mm256_add_pd(_mm256_add_pd(acc[0], acc[2]), _mm256_add_pd(acc[4], acc[6])));
  _mm256_storeu_pd(lanes + 4, _mm256_add_pd(_mm256_add_pd(acc[1], acc[3]), _mm256_add_pd(acc[5], acc[7])));
  for (double v : lanes) s += v;
  for (; i < n; i++) s += c ? (double)a[i] * b[i] * c[i] : (double)a[i] * b[i];
  return s;
}

#define PEFT_ISA_NAME "avx2"
#define PEFT_NARROW_GEMM 0
#define GEMV_NF4 nf4_gemv_rows_avx2
#define GEMV_F32 gemv_f32_rows_avx2
#include "kernels/simd_body.inc"

} // namespace

const SimdKernels* const simd_avx2 = &TABLE;

} // namespace peft::kern
#else
namespace peft::kern {
const SimdKernels* const simd_avx2 = nullptr;
} // namespace peft::kern
#endif
