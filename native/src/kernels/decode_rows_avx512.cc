// AVX-512 bodies of the decode products (decode_rows.h): every (row, output) value is one 16-lane accumulator over
// the inputs in order (the last step masked) and one _mm512_reduce_add_ps, as decode/rows_matmul computes it, so
// generation and the batched decoder give the same numbers. One input row (a decode step): four output rows at a
// time, four independent FMA chains; NF4 blocks decoded in registers with a 16-entry permute.
#include "kernels/gemv_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include <cstring>

namespace peft::kern {
namespace {

// 16 codes (8 packed bytes, low nibble first) -> their code-book values times the block's absmax, in element order.
inline __m512 decode16(const uint8_t* p, __m512 table, __m512 va) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  const __m128i b = _mm_cvtsi64_si128((long long)v);
  const __m128i m = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
  return _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)), table), va);
}

// R output rows (o .. o+R-1) for one input row.
template <int R>
inline void nf4_one(const Nf4View& w, const float* x, float* y, int o) {
  const int per_row = w.cols / 64;
  const __m512 table = _mm512_loadu_ps(w.code);
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  for (int b = 0; b < per_row; b++) {
    const float* xb = x + (size_t)b * 64;
    const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16), x2 = _mm512_loadu_ps(xb + 32),
                 x3 = _mm512_loadu_ps(xb + 48);
    for (int r = 0; r < R; r++) {
      const size_t blk = (size_t)(o + r) * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      const __m512 va = _mm512_set1_ps(nf4_view_absmax(w, blk));
      __m512 a = acc[r];
      a = _mm512_fmadd_ps(decode16(p, table, va), x0, a);
      a = _mm512_fmadd_ps(decode16(p + 8, table, va), x1, a);
      a = _mm512_fmadd_ps(decode16(p + 16, table, va), x2, a);
      a = _mm512_fmadd_ps(decode16(p + 24, table, va), x3, a);
      acc[r] = a;
    }
  }
  for (int r = 0; r < R; r++) y[o + r] = _mm512_reduce_add_ps(acc[r]);
}

void nf4_rows(const Nf4View& w, const float* x, int T, float* y, int o0, int o1) {
  if (T == 1) {
    int o = o0;
    for (; o + 4 <= o1; o += 4) nf4_one<4>(w, x, y, o);
    for (; o < o1; o++) nf4_one<1>(w, x, y, o);
    return;
  }
  // several input rows: each block decoded once per output row and used for all of them
  const int cols = w.cols, per_row = cols / 64;
  const __m512 table = _mm512_loadu_ps(w.code);
  for (int o = o0; o < o1; o++) {
    __m512 acc[32];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < per_row; b++) {
      const size_t blk = (size_t)o * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      const __m512 va = _mm512_set1_ps(nf4_view_absmax(w, blk));
      const __m512 w0 = decode16(p, table, va), w1 = decode16(p + 8, table, va), w2 = decode16(p + 16, table, va),
                   w3 = decode16(p + 24, table, va);
      const float* xb = x + (size_t)b * 64;
      for (int t = 0; t < T; t++) {
        const float* xr = xb + (size_t)t * cols;
        __m512 a = acc[t];
        a = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xr), a);
        a = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xr + 16), a);
        a = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xr + 32), a);
        a = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xr + 48), a);
        acc[t] = a;
      }
    }
    for (int t = 0; t < T; t++) y[(size_t)t * w.rows + o] = _mm512_reduce_add_ps(acc[t]);
  }
}

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

} // namespace

extern const Nf4GemvRows decode_nf4_rows_avx512 = nf4_rows;
extern const GemvF32Rows decode_f32_rows_avx512 = f32_rows;

} // namespace peft::kern
#else
#include "kernels/gemv_variants.h"
namespace peft::kern {
extern const Nf4GemvRows decode_nf4_rows_avx512 = nullptr;
extern const GemvF32Rows decode_f32_rows_avx512 = nullptr;
} // namespace peft::kern
#endif
