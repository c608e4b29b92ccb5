// FMA-chain tile products for the AVX-512 units (decode/rows_frozen_avx512.cc, kernels/nf4_interleaved_avx512.cc):
// a tile's weights transposed to 16 outputs per vector per input (wt), register blocks of input rows x vectors, each
// output one fp32 FMA chain over the inputs in order from zero; and an NF4 tile decoded into that layout straight
// from the interleaved codes (kernels/nf4_interleaved.h). Internal linkage: include only from units built with the
// AVX-512 flags (each keeps its own copy; none is shared with code built for another ISA).
#pragma once
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include <cstdint>
#include <utility>
#include <vector>
#include "kernels/gemv_variants.h"

namespace peft::kern::fma_tiles {
namespace {

// Register blocks of 8 input rows x 3 vectors of 16 outputs (24 accumulators; 3 weight loads and 8 broadcasts per 24
// FMAs): 88 GMAC/s on one Ice Lake core against 41 for 12 rows x 1 vector (one load per FMA) and 70 for 6 x 2. A
// tile's last outputs take 1 or 2 vectors (the last one masked) with the same 8 rows.
constexpr int NG = 3;
constexpr int MT = 8;

// y[t * ldy + 16 g + j] for t < NT rows, g < NV vectors (masked: the tile's last outputs), over the inputs in order.
template <int NT, int NV>
void block(const float* wt, int ld, const float* x, int in, float* y, int ldy, __mmask16 last) {
  // (the loops over t and g unrolled so that the accumulators live in registers: the addon builds at -O2)
  __m512 acc[NT][NV];
#pragma GCC unroll 16
  for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
    for (int g = 0; g < NV; g++) acc[t][g] = _mm512_setzero_ps();
  for (int k = 0; k < in; k++) {
    __m512 w[NV];
#pragma GCC unroll 4
    for (int g = 0; g < NV; g++) w[g] = _mm512_load_ps(wt + (size_t)k * ld + 16 * g);
#pragma GCC unroll 16
    for (int t = 0; t < NT; t++) {
      const __m512 xv = _mm512_set1_ps(x[(size_t)t * in + k]);
#pragma GCC unroll 4
      for (int g = 0; g < NV; g++) acc[t][g] = _mm512_fmadd_ps(xv, w[g], acc[t][g]);
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
    for (int g = 0; g < NV; g++)
      _mm512_mask_storeu_ps(y + (size_t)t * ldy + 16 * g, g == NV - 1 ? last : (__mmask16)0xFFFF, acc[t][g]);
}

using Block = void (*)(const float*, int, const float*, int, float*, int, __mmask16);

template <int NV, int... NT>
Block pick(int nt, std::integer_sequence<int, NT...>) {
  static constexpr Block blocks[] = {block<NT + 1, NV>...};
  return blocks[nt - 1];
}

// The block of nt rows (1 <= nt <= MT) and nv vectors (1 <= nv <= NG).
Block pick_block(int nt, int nv) {
  const auto rows = std::make_integer_sequence<int, MT>{};
  return nv == 3 ? pick<3>(nt, rows) : nv == 2 ? pick<2>(nt, rows) : pick<1>(nt, rows);
}

// The tile's products over its transposed weights wt (groups of 16 outputs, ld = 16 * groups floats per input).
void tile_products(const float* wt, int rows, int groups, int in, const float* x, int T, float* y, int ldy, int o0) {
  const int ld = 16 * groups;
  for (int g0 = 0; g0 < groups; g0 += NG) {
    const int nv = groups - g0 < NG ? groups - g0 : NG;
    const int outs = rows - 16 * (g0 + nv - 1); // outputs in the block's last vector
    const __mmask16 last = (__mmask16)(outs >= 16 ? 0xFFFF : (1u << outs) - 1);
    for (int t = 0; t < T; t += MT) {
      const int nt = T - t < MT ? T - t : MT;
      pick_block(nt, nv)(wt + 16 * g0, ld, x + (size_t)t * in, in, y + (size_t)t * ldy + o0 + 16 * g0, ldy, last);
    }
  }
}

// A 64-byte aligned per-thread buffer of n floats.
float* tile_buffer(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n + 16) buf.resize(n + 16);
  return buf.data() + ((64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64) / sizeof(float);
}

// wt for the outputs [16 g0, 16 g1) of an NF4 weight (groups of its interleaved codes), ld = 16 (g1 - g0): each pair
// of inputs' 16 codes per group decoded with one widening and two permutes, scaled by the block's absmax vector (the
// values code x absmax, as the dequantizer computes them).
inline void decode_nf4i(const Nf4IView& w, int g0, int g1, float* wt) {
  const int ld = 16 * (g1 - g0), half = w.cols / 2, nb = w.cols / 64;
  const __m512 table = _mm512_loadu_ps(w.code);
  for (int g = g0; g < g1; g++) {
    const uint8_t* c = w.codes + (size_t)g * half * 16;
    const float* sc = w.scales + (size_t)g * nb * 16;
    float* col = wt + 16 * (g - g0);
    for (int b = 0; b < nb; b++) {
      const __m512 s = _mm512_loadu_ps(sc + (size_t)b * 16);
      for (int p = 32 * b; p < 32 * b + 32; p++) {
        const __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + (size_t)p * 16)));
        _mm512_store_ps(col + (size_t)(2 * p) * ld, _mm512_mul_ps(_mm512_permutexvar_ps(d, table), s));
        _mm512_store_ps(col + (size_t)(2 * p + 1) * ld,
                        _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), table), s));
      }
    }
  }
}

} // namespace
} // namespace peft::kern::fma_tiles
#endif
