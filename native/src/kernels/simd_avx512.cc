// The AVX-512 kernel table (simd.h; built with -mavx512f/bw/vl/dq, FMA, F16C: Skylake-X, Zen 4 and later).
#include "kernels/simd.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include <immintrin.h>
#include <cmath>
#include <cstring>

namespace peft::kern {
namespace {

struct V {
  using R = __m512;
  static constexpr int W = 16;
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static R set1(float x) { return _mm512_set1_ps(x); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R div(R a, R b) { return _mm512_div_ps(a, b); }
  static R fmadd(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R fnmadd(R a, R b, R c) { return _mm512_fnmadd_ps(a, b, c); }
  static R min(R a, R b) { return _mm512_min_ps(a, b); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R round(R x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static R scale2n(R p, R n) { return _mm512_scalef_ps(p, n); }
  static float hmax(R v) { return _mm512_reduce_max_ps(v); }
};

struct G : V {
  static constexpr int MR = 12;
};

// 16 codes (8 packed bytes, low nibble first) -> 16 code indices as int32 lanes, in element order.
inline __m512i unpack16(const uint8_t* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  const __m128i v = _mm_cvtsi64_si128((long long)x);
  const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x0F));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F));
  return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
}

inline void nf4_block_f32(const uint8_t* p, float a, const float* code, float* out) {
  const __m512 table = _mm512_loadu_ps(code), va = _mm512_set1_ps(a);
  for (int i = 0; i < 64; i += 16)
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_permutexvar_ps(unpack16(p + i / 2), table), va));
}

// 32 double lanes: element i + 8k + j of each 32-chunk in lane j of acc[k]; the lanes summed as simd.h fixes.
double dot_d(const float* a, const float* b, const float* c, int n) {
  int i = 0;
  __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; k++) {
      __m512d p = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(a + i + 8 * k)),
                                _mm512_cvtps_pd(_mm256_loadu_ps(b + i + 8 * k)));
      if (c) p = _mm512_mul_pd(p, _mm512_cvtps_pd(_mm256_loadu_ps(c + i + 8 * k)));
      acc[k] = _mm512_add_pd(acc[k], p);
    }
  double lanes[8], s = 0;
  _mm512_storeu_pd(lanes, _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3])));
  for (double v : lanes) s += v;
  for (; i < n; i++) s += c ? (double)a[i] * b[i] * c[i] : (double)a[i] * b[i];
  return s;
}

#define PEFT_ISA_NAME "avx512"
#define PEFT_NARROW_GEMM 1
#define GEMV_NF4 nf4_gemv_rows_avx512
#define GEMV_F32 gemv_f32_rows_avx512
#include "kernels/simd_body.inc"

} // namespace

const SimdKernels* const simd_avx512 = &TABLE;

} // namespace peft::kern
#else
namespace peft::kern {
const SimdKernels* const simd_avx512 = nullptr;
} // namespace peft::kern
#endif
