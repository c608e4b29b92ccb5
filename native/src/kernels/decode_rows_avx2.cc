// AVX2 + FMA bodies of the decode products (decode_rows.h), built without AVX-512 (-mavx2 -mfma -mf16c
// -mno-avx512f) for Zen 2/3 and Intel client CPUs; a row's result never depends on T. fp32: one 8-lane accumulator
// per (row, output) over the inputs in order (the last step masked), one fixed lane reduction; bf16 the same over the
// widened weights. (NF4: nf4_interleaved_avx2.cc.)
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

// bf16 weights, input in the even/odd order of decode_prepare_bf16 (in % 16 == 0): 16 weights per 256-bit load, the
// even elements widened by a shift, the odd ones by a mask; four output rows at a time.
template <int R>
inline void bf16_one(const uint16_t* W, int in, const float* xn, float* y, int o) {
  const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
  __m256 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  for (int k = 0; k < in; k += 16) {
    const __m256 xe = _mm256_loadu_ps(xn + k), xo = _mm256_loadu_ps(xn + k + 8);
    for (int r = 0; r < R; r++) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W + (size_t)(o + r) * in + k));
      acc[r] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), xe, acc[r]);
      acc[r] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, hi)), xo, acc[r]);
    }
  }
  for (int r = 0; r < R; r++) y[o + r] = hsum8(acc[r]);
}

void bf16_rows(const uint16_t* W, int out, int in, const float* xn, int T, float* y, int o0, int o1) {
  for (int t = 0; t < T; t++) {
    const float* xr = xn + (size_t)t * in;
    float* yr = y + (size_t)t * out;
    int o = o0;
    for (; o + 4 <= o1; o += 4) bf16_one<4>(W, in, xr, yr, o);
    for (; o < o1; o++) bf16_one<1>(W, in, xr, yr, o);
  }
}

} // namespace

using DecodeBf16Rows = void (*)(const uint16_t*, int, int, const float*, int, float*, int, int);
extern const DecodeBf16Rows decode_bf16_rows_avx2 = bf16_rows;
extern const GemvF32Rows decode_f32_rows_avx2 = f32_rows;

} // namespace peft::kern
#else
#include "kernels/gemv_variants.h"
namespace peft::kern {
using DecodeBf16Rows = void (*)(const uint16_t*, int, int, const float*, int, float*, int, int);
extern const DecodeBf16Rows decode_bf16_rows_avx2 = nullptr;
extern const GemvF32Rows decode_f32_rows_avx2 = nullptr;
} // namespace peft::kern
#endif
