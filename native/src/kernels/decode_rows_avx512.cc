// AVX-512 bodies of the decode products (decode_rows.h). fp32: every (row, output) value is one 16-lane accumulator
// over the inputs in order (the last step masked) and one _mm512_reduce_add_ps, as decode/rows_matmul computes it.
// bf16 (the copies of bf16 compute without native bf16): the same per row over the widened weights. (NF4:
// nf4_interleaved_avx512.cc.)
#include "kernels/gemv_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include <cstring>

namespace peft::kern {
namespace {

// y[t, o .. o+MO) for input rows t0 .. t0+MT.
template <int MT, int MO>
inline void f32_block(const float* W, int out, int in, const float* x, int t0, float* y, int o) {
  __m512 acc[MT][MO];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) acc[i][j] = _mm512_setzero_ps();
  const float* w = W + (size_t)o * in;
  int k = 0;
  for (; k + 16 <= in; k += 16) {
    __m512 wv[MO];
    for (int j = 0; j < MO; j++) wv[j] = _mm512_loadu_ps(w + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m512 xv = _mm512_loadu_ps(x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm512_fmadd_ps(wv[j], xv, acc[i][j]);
    }
  }
  if (k < in) {
    const __mmask16 m = (__mmask16)((1u << (in - k)) - 1);
    __m512 wv[MO];
    for (int j = 0; j < MO; j++) wv[j] = _mm512_maskz_loadu_ps(m, w + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm512_fmadd_ps(wv[j], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) y[(size_t)(t0 + i) * out + o + j] = _mm512_reduce_add_ps(acc[i][j]);
}

template <int MO>
inline void f32_cols(const float* W, int out, int in, const float* x, int T, float* y, int o) {
  int t = 0;
  for (; t + 4 <= T; t += 4) f32_block<4, MO>(W, out, in, x, t, y, o);
  switch (T - t) {
    case 3: f32_block<3, MO>(W, out, in, x, t, y, o); break;
    case 2: f32_block<2, MO>(W, out, in, x, t, y, o); break;
    case 1: f32_block<1, MO>(W, out, in, x, t, y, o); break;
    default: break;
  }
}

void f32_rows(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1) {
  int o = o0;
  for (; o + 4 <= o1; o += 4) f32_cols<4>(W, out, in, x, T, y, o);
  for (; o < o1; o++) f32_cols<1>(W, out, in, x, T, y, o);
}

// bf16 weights, input in the even/odd order of decode_prepare_bf16 (in % 32 == 0): 32 weights per 512-bit load, the
// even elements widened by a shift, the odd ones by a mask (no shuffle); four output rows at a time, each row's weights
// prefetched 512 bytes ahead (a streamed read of the bf16 weights: 10-15% faster on one Ice Lake core).
template <int R>
inline void bf16_one(const uint16_t* W, int in, const float* xn, float* y, int o) {
  const __m512i hi = _mm512_set1_epi32((int)0xFFFF0000u);
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  for (int k = 0; k < in; k += 32) {
    const __m512 xe = _mm512_loadu_ps(xn + k), xo = _mm512_loadu_ps(xn + k + 16);
    for (int r = 0; r < R; r++) {
      _mm_prefetch((const char*)(W + (size_t)(o + r) * in + k + 256), _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(W + (size_t)(o + r) * in + k);
      acc[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), xe, acc[r]);
      acc[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, hi)), xo, acc[r]);
    }
  }
  for (int r = 0; r < R; r++) y[o + r] = _mm512_reduce_add_ps(acc[r]);
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
extern const DecodeBf16Rows decode_bf16_rows_avx512 = bf16_rows;
extern const GemvF32Rows decode_f32_rows_avx512 = f32_rows;

} // namespace peft::kern
#else
#include "kernels/gemv_variants.h"
namespace peft::kern {
using DecodeBf16Rows = void (*)(const uint16_t*, int, int, const float*, int, float*, int, int);
extern const DecodeBf16Rows decode_bf16_rows_avx512 = nullptr;
extern const GemvF32Rows decode_f32_rows_avx512 = nullptr;
} // namespace peft::kern
#endif
