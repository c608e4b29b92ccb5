// AVX-512 bodies of the decode products (decode_rows.h). fp32: every (row, output) value is one 16-lane accumulator
// over the inputs in order (the last step masked) and one _mm512_reduce_add_ps, as decode/rows_matmul computes it.
// NF4: the codes of 32 weights widened with one vpmovzxbd and looked up with two 16-entry permutes (low nibbles, then
// high ones: the input comes in that order, see decode_prepare_nf4), the block's sum of code x input scaled by its
// absmax once. One input row (a decode step): four output rows at a time, four independent FMA chains; several rows
// (serve's batched steps): two output rows x eight input rows per pass, 16 accumulators in registers.
#include "kernels/gemv_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include <cstring>

namespace peft::kern {
namespace {

// The codes of 32 weights (16 packed bytes) as two vectors of code-book values: the low nibbles (even elements)
// and the high nibbles (odd elements). vpermps reads only the low 4 bits of each index.
inline void codes32(const uint8_t* p, __m512 table, __m512& even, __m512& odd) {
  const __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  even = _mm512_permutexvar_ps(d, table);
  odd = _mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), table);
}

// R output rows (o .. o+R-1) for one input row (xn in the nibble order of decode_prepare_nf4).
template <int R>
inline void nf4_one(const Nf4View& w, const float* xn, float* y, int o) {
  const int per_row = w.cols / 64;
  const __m512 table = _mm512_loadu_ps(w.code);
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  for (int b = 0; b < per_row; b++) {
    const float* xb = xn + (size_t)b * 64;
    const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16), x2 = _mm512_loadu_ps(xb + 32),
                 x3 = _mm512_loadu_ps(xb + 48);
    for (int r = 0; r < R; r++) {
      const size_t blk = (size_t)(o + r) * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      __m512 e0, o0, e1, o1;
      codes32(p, table, e0, o0);
      codes32(p + 16, table, e1, o1);
      __m512 s = _mm512_mul_ps(e0, x0);
      s = _mm512_fmadd_ps(o0, x1, s);
      s = _mm512_fmadd_ps(e1, x2, s);
      s = _mm512_fmadd_ps(o1, x3, s);
      acc[r] = _mm512_fmadd_ps(s, _mm512_set1_ps(nf4_view_absmax(w, blk)), acc[r]); // the block's absmax once
    }
  }
  for (int r = 0; r < R; r++) y[o + r] = _mm512_reduce_add_ps(acc[r]);
}

// MT input rows (t0 ..) x MO output rows (o ..): each block's codes looked up once per output row and used for every
// input row, each input load used for every output row, one accumulator per (row, output) kept in a register across
// the blocks: the same operations per (row, output) as nf4_one.
template <int MO, int MT>
inline void nf4_multi(const Nf4View& w, const float* xn, int t0, float* y, int o, __m512 table) {
  const int cols = w.cols, per_row = cols / 64;
  __m512 acc[MO][MT];
#pragma GCC unroll 16
  for (int j = 0; j < MO; j++)
#pragma GCC unroll 16
    for (int i = 0; i < MT; i++) acc[j][i] = _mm512_setzero_ps();
  for (int b = 0; b < per_row; b++) {
    __m512 va[MO], e0[MO], q0[MO], e1[MO], q1[MO];
#pragma GCC unroll 4
    for (int j = 0; j < MO; j++) {
      const size_t blk = (size_t)(o + j) * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      va[j] = _mm512_set1_ps(nf4_view_absmax(w, blk));
      codes32(p, table, e0[j], q0[j]);
      codes32(p + 16, table, e1[j], q1[j]);
    }
    const float* xb = xn + (size_t)t0 * cols + (size_t)b * 64;
#pragma GCC unroll 16
    for (int i = 0; i < MT; i++) {
      const float* xr = xb + (size_t)i * cols;
      const __m512 x0 = _mm512_loadu_ps(xr), x1 = _mm512_loadu_ps(xr + 16), x2 = _mm512_loadu_ps(xr + 32),
                   x3 = _mm512_loadu_ps(xr + 48);
#pragma GCC unroll 4
      for (int j = 0; j < MO; j++) {
        __m512 s = _mm512_mul_ps(e0[j], x0);
        s = _mm512_fmadd_ps(q0[j], x1, s);
        s = _mm512_fmadd_ps(e1[j], x2, s);
        s = _mm512_fmadd_ps(q1[j], x3, s);
        acc[j][i] = _mm512_fmadd_ps(s, va[j], acc[j][i]);
      }
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < MO; j++)
#pragma GCC unroll 16
    for (int i = 0; i < MT; i++) y[(size_t)(t0 + i) * w.rows + o + j] = _mm512_reduce_add_ps(acc[j][i]);
}

// Input rows [0, T) for output rows o .. o+MO: passes of 8 rows, then the rest.
template <int MO>
inline void nf4_outputs(const Nf4View& w, const float* xn, int T, float* y, int o, __m512 table) {
  int t = 0;
  for (; t + 8 <= T; t += 8) nf4_multi<MO, 8>(w, xn, t, y, o, table);
  if (T - t >= 4) nf4_multi<MO, 4>(w, xn, t, y, o, table), t += 4;
  if (T - t >= 2) nf4_multi<MO, 2>(w, xn, t, y, o, table), t += 2;
  if (T - t >= 1) nf4_multi<MO, 1>(w, xn, t, y, o, table);
}

void nf4_rows(const Nf4View& w, const float* xn, int T, float* y, int o0, int o1) {
  if (T == 1) {
    int o = o0;
    for (; o + 4 <= o1; o += 4) nf4_one<4>(w, xn, y, o);
    for (; o < o1; o++) nf4_one<1>(w, xn, y, o);
    return;
  }
  // several input rows: two output rows x up to 8 input rows per pass over the blocks
  const __m512 table = _mm512_loadu_ps(w.code);
  int o = o0;
  for (; o + 2 <= o1; o += 2) nf4_outputs<2>(w, xn, T, y, o, table);
  if (o < o1) nf4_outputs<1>(w, xn, T, y, o, table);
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

// bf16 weights, input in the even/odd order of decode_prepare_nf4 (in % 32 == 0): 32 weights per 512-bit load, the
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
extern const Nf4GemvRows decode_nf4_rows_avx512 = nf4_rows;
extern const GemvF32Rows decode_f32_rows_avx512 = f32_rows;

} // namespace peft::kern
#else
#include "kernels/gemv_variants.h"
namespace peft::kern {
using DecodeBf16Rows = void (*)(const uint16_t*, int, int, const float*, int, float*, int, int);
extern const DecodeBf16Rows decode_bf16_rows_avx512 = nullptr;
extern const Nf4GemvRows decode_nf4_rows_avx512 = nullptr;
extern const GemvF32Rows decode_f32_rows_avx512 = nullptr;
} // namespace peft::kern
#endif
