// Row-independent blocked products (see rows_matmul.h): a 4x4 register block of (row, output) accumulators, the
// inputs in 16-lane steps (the last step masked), a fixed lane reduction per pair.
#include "decode/rows_matmul.h"
#include <algorithm>
#include <vector>
#include "kernels/kernels.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace peft::decode {

namespace {

// y[t, o0 + j] for rows t0..t0+MT-1 and j < MO (weight row o0 + j at W + j * in, x rows at x + t * in).
template <int MT, int MO>
inline void block(const float* W, const float* x, int in, int t0, int o0, float* y, int ldy) {
#if defined(__AVX512F__)
  __m512 acc[MT][MO];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) acc[i][j] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 16 <= in; k += 16) {
    __m512 w[MO];
    for (int j = 0; j < MO; j++) w[j] = _mm512_loadu_ps(W + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m512 xv = _mm512_loadu_ps(x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  if (k < in) {
    const __mmask16 m = (__mmask16)((1u << (in - k)) - 1);
    __m512 w[MO];
    for (int j = 0; j < MO; j++) w[j] = _mm512_maskz_loadu_ps(m, W + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) y[(size_t)(t0 + i) * ldy + o0 + j] = _mm512_reduce_add_ps(acc[i][j]);
#else
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) {
      const float* w = W + (size_t)j * in;
      const float* xr = x + (size_t)(t0 + i) * in;
      float s = 0.f;
      for (int k = 0; k < in; k++) s += w[k] * xr[k];
      y[(size_t)(t0 + i) * ldy + o0 + j] = s;
    }
#endif
}

template <int MO>
inline void rows_block(const float* W, const float* x, int in, int T, int o0, float* y, int ldy) {
  int t = 0;
  for (; t + 4 <= T; t += 4) block<4, MO>(W, x, in, t, o0, y, ldy);
  switch (T - t) {
    case 3: block<3, MO>(W, x, in, t, o0, y, ldy); break;
    case 2: block<2, MO>(W, x, in, t, o0, y, ldy); break;
    case 1: block<1, MO>(W, x, in, t, o0, y, ldy); break;
    default: break;
  }
}

// Outputs [o_begin, o_end) of y (row stride ldy); W points at weight row o_begin.
void outputs(const float* W, int o_begin, int o_end, int in, const float* x, int T, float* y, int ldy) {
  int o = o_begin;
  for (; o + 4 <= o_end; o += 4) rows_block<4>(W + (size_t)(o - o_begin) * in, x, in, T, o, y, ldy);
  const float* w = W + (size_t)(o - o_begin) * in;
  switch (o_end - o) {
    case 3: rows_block<3>(w, x, in, T, o, y, ldy); break;
    case 2: rows_block<2>(w, x, in, T, o, y, ldy); break;
    case 1: rows_block<1>(w, x, in, T, o, y, ldy); break;
    default: break;
  }
}

constexpr int TILE = 16; // weight rows per task (multiple of 4; a 16 x 1536 fp32 tile is 96 KB)

} // namespace

void rows_matmul_f32(const float* W, int out, int in, const float* x, int T, float* y) {
  if (T <= 0 || out <= 0) return;
  kern::parallel_for((out + TILE - 1) / TILE, [&](int b, int e) {
    const int o0 = b * TILE, o1 = std::min(out, e * TILE);
    outputs(W + (size_t)o0 * in, o0, o1, in, x, T, y, out);
  });
}

void rows_matmul(const kern::FrozenLinear& W, const float* x, int T, float* y) {
  const int out = W.out(), in = W.in();
  if (T <= 0) return;
  int tile_rows = TILE; // NF4 tiles start on 64-weight block boundaries
  while (W.storage() == kern::Storage::NF4 && ((size_t)tile_rows * in) % kern::NF4_BLOCK != 0) tile_rows *= 2;
  kern::parallel_for((out + tile_rows - 1) / tile_rows, [&](int b, int e) {
    thread_local std::vector<float> tile;
    for (int c = b; c < e; c++) {
      const int o0 = c * tile_rows, rows = std::min(tile_rows, out - o0);
      const float* w = W.rows_f32(o0, rows, tile);
      outputs(w, o0, o0 + rows, in, x, T, y, out);
    }
  });
  W.add_bias_rows(y, T);
}

} // namespace peft::decode
