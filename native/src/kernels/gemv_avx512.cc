// AVX-512 decode GEMVs (built with the AVX-512 unit flags, see build-flags.mjs): NF4 decoded in registers with a
// 16-entry permute as the code-book lookup, and fp32 rows.
#include "kernels/gemv_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include <cstring>

namespace peft::kern {
namespace {

// 16 codes (8 packed bytes, low nibble first) -> 16 code indices as int32 lanes, in element order.
inline __m512i unpack16(const uint8_t* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  const __m128i v = _mm_cvtsi64_si128((long long)x);
  const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x0F));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F));
  return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
}

// nf4_gemv for output rows [o0, o1): each block decoded once in registers and used for all T inputs.
void nf4_rows(const Nf4View& w, const float* x, int T, float* y, int o0, int o1) {
  const int cols = w.cols, per_row = cols / 64;
  const __m512 table = _mm512_loadu_ps(w.code);
  for (int o = o0; o < o1; o++) {
    __m512 acc[32];
    for (int i = 0; i < T; i++) acc[i] = _mm512_setzero_ps();
    for (int b = 0; b < per_row; b++) {
      const size_t blk = (size_t)o * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      const __m512 va = _mm512_set1_ps(nf4_view_absmax(w, blk));
      __m512 wv[4];
      for (int q = 0; q < 4; q++) wv[q] = _mm512_mul_ps(_mm512_permutexvar_ps(unpack16(p + q * 8), table), va);
      const float* xb = x + (size_t)b * 64;
      for (int i = 0; i < T; i++) {
        const float* xr = xb + (size_t)i * cols;
        __m512 a = acc[i];
        for (int q = 0; q < 4; q++) a = _mm512_fmadd_ps(wv[q], _mm512_loadu_ps(xr + 16 * q), a);
        acc[i] = a;
      }
    }
    for (int i = 0; i < T; i++) y[(size_t)i * w.rows + o] = _mm512_reduce_add_ps(acc[i]);
  }
}

// gemv_rows_f32 for output rows [o0, o1).
void f32_rows(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1) {
  for (int o = o0; o < o1; o++) {
    const float* w = W + (size_t)o * in;
    for (int t = 0; t < T; t++) {
      const float* xr = x + (size_t)t * in;
      int i = 0;
      __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
      for (; i + 32 <= in; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(xr + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(xr + i + 16), a1);
      }
      float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
      for (; i < in; i++) sum += w[i] * xr[i];
      y[(size_t)t * out + o] = sum;
    }
  }
}

} // namespace

const Nf4GemvRows nf4_gemv_rows_avx512 = nf4_rows;
const GemvF32Rows gemv_f32_rows_avx512 = f32_rows;

} // namespace peft::kern
#else
namespace peft::kern {
const Nf4GemvRows nf4_gemv_rows_avx512 = nullptr;
const GemvF32Rows gemv_f32_rows_avx512 = nullptr;
} // namespace peft::kern
#endif
