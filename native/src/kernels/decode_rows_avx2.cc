// AVX2 + FMA bodies of the decode products (decode_rows.h), built without AVX-512 (-mavx2 -mfma -mf16c
// -mno-avx512f) for Zen 2/3 and Intel client CPUs: every (row, output) value is one 8-lane accumulator over the
// inputs in order (the last step masked) and one fixed lane reduction, so a row's result does not depend on T. One
// input row: four output rows at a time (four FMA chains); NF4 codes looked up with two 8-entry permutes and a blend.
#include "kernels/gemv_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include <cstring>

namespace peft::kern {
namespace {

inline float hsum8(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

// 16 codes (8 packed bytes, low nibble first) -> two vectors of code-book values times absmax, in element order.
inline void decode16(const uint8_t* p, __m256 lo_tab, __m256 hi_tab, __m256 va, __m256& w0, __m256& w1) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  const __m128i b = _mm_cvtsi64_si128((long long)v);
  const __m128i m = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
  const __m128i codes = _mm_unpacklo_epi8(lo, hi); // 16 code indices, element order
  const __m256i i0 = _mm256_cvtepu8_epi32(codes), i1 = _mm256_cvtepu8_epi32(_mm_srli_si128(codes, 8));
  const __m256 a0 = _mm256_permutevar8x32_ps(lo_tab, i0), c0 = _mm256_permutevar8x32_ps(hi_tab, i0);
  const __m256 a1 = _mm256_permutevar8x32_ps(lo_tab, i1), c1 = _mm256_permutevar8x32_ps(hi_tab, i1);
  // bit 3 of the index selects the upper half of the code book (moved to the sign bit for blendv)
  w0 = _mm256_mul_ps(_mm256_blendv_ps(a0, c0, _mm256_castsi256_ps(_mm256_slli_epi32(i0, 28))), va);
  w1 = _mm256_mul_ps(_mm256_blendv_ps(a1, c1, _mm256_castsi256_ps(_mm256_slli_epi32(i1, 28))), va);
}

template <int R>
inline void nf4_one(const Nf4View& w, const float* x, float* y, int o) {
  const int per_row = w.cols / 64;
  const __m256 lo_tab = _mm256_loadu_ps(w.code), hi_tab = _mm256_loadu_ps(w.code + 8);
  __m256 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  for (int b = 0; b < per_row; b++) {
    const float* xb = x + (size_t)b * 64;
    for (int r = 0; r < R; r++) {
      const size_t blk = (size_t)(o + r) * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      const __m256 va = _mm256_set1_ps(nf4_view_absmax(w, blk));
      __m256 a = acc[r];
      for (int q = 0; q < 4; q++) {
        __m256 w0, w1;
        decode16(p + 8 * q, lo_tab, hi_tab, va, w0, w1);
        a = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xb + 16 * q), a);
        a = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xb + 16 * q + 8), a);
      }
      acc[r] = a;
    }
  }
  for (int r = 0; r < R; r++) y[o + r] = hsum8(acc[r]);
}

void nf4_rows(const Nf4View& w, const float* x, int T, float* y, int o0, int o1) {
  if (T == 1) {
    int o = o0;
    for (; o + 4 <= o1; o += 4) nf4_one<4>(w, x, y, o);
    for (; o < o1; o++) nf4_one<1>(w, x, y, o);
    return;
  }
  const int cols = w.cols, per_row = cols / 64;
  const __m256 lo_tab = _mm256_loadu_ps(w.code), hi_tab = _mm256_loadu_ps(w.code + 8);
  for (int o = o0; o < o1; o++) {
    __m256 acc[32];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < per_row; b++) {
      const size_t blk = (size_t)o * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      const __m256 va = _mm256_set1_ps(nf4_view_absmax(w, blk));
      __m256 wv[8];
      for (int q = 0; q < 4; q++) decode16(p + 8 * q, lo_tab, hi_tab, va, wv[2 * q], wv[2 * q + 1]);
      const float* xb = x + (size_t)b * 64;
      for (int t = 0; t < T; t++) {
        const float* xr = xb + (size_t)t * cols;
        __m256 a = acc[t];
        for (int q = 0; q < 8; q++) a = _mm256_fmadd_ps(wv[q], _mm256_loadu_ps(xr + 8 * q), a);
        acc[t] = a;
      }
    }
    for (int t = 0; t < T; t++) y[(size_t)t * w.rows + o] = hsum8(acc[t]);
  }
}

inline __m256i tail_mask(int n) { // first n lanes set (0 < n < 8)
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int MT, int MO>
inline void f32_block(const float* W, int out, int in, const float* x, int t0, float* y, int o) {
  __m256 acc[MT][MO];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) acc[i][j] = _mm256_setzero_ps();
  const float* w = W + (size_t)o * in;
  int k = 0;
  for (; k + 8 <= in; k += 8) {
    __m256 wv[MO];
    for (int j = 0; j < MO; j++) wv[j] = _mm256_loadu_ps(w + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m256 xv = _mm256_loadu_ps(x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm256_fmadd_ps(wv[j], xv, acc[i][j]);
    }
  }
  if (k < in) {
    const __m256i m = tail_mask(in - k);
    __m256 wv[MO];
    for (int j = 0; j < MO; j++) wv[j] = _mm256_maskload_ps(w + (size_t)j * in + k, m);
    for (int i = 0; i < MT; i++) {
      const __m256 xv = _mm256_maskload_ps(x + (size_t)(t0 + i) * in + k, m);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm256_fmadd_ps(wv[j], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) y[(size_t)(t0 + i) * out + o + j] = hsum8(acc[i][j]);
}

template <int MO>
inline void f32_cols(const float* W, int out, int in, const float* x, int T, float* y, int o) {
  int t = 0;
  for (; t + 2 <= T; t += 2) f32_block<2, MO>(W, out, in, x, t, y, o);
  if (t < T) f32_block<1, MO>(W, out, in, x, t, y, o);
}

void f32_rows(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1) {
  int o = o0;
  for (; o + 4 <= o1; o += 4) f32_cols<4>(W, out, in, x, T, y, o);
  for (; o < o1; o++) f32_cols<1>(W, out, in, x, T, y, o);
}

} // namespace

extern const Nf4GemvRows decode_nf4_rows_avx2 = nf4_rows;
extern const GemvF32Rows decode_f32_rows_avx2 = f32_rows;

} // namespace peft::kern
#else
#include "kernels/gemv_variants.h"
namespace peft::kern {
extern const Nf4GemvRows decode_nf4_rows_avx2 = nullptr;
extern const GemvF32Rows decode_f32_rows_avx2 = nullptr;
} // namespace peft::kern
#endif
