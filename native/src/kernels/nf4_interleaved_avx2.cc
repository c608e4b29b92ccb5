// AVX2 + FMA body of the interleaved NF4 decode products (gemv_variants.h, Nf4InterleavedRows): 8 outputs to a vector
// (half a group). Per pair of inputs, 8 bytes hold a half group's 16 codes; one vpmovzxbd, then the 16-entry code
// book looked up as two 8-entry permutes and a blend on bit 3 for the low nibbles and again for the high ones, each
// scaled by the block's absmax vector; every input row of the register block takes an FMA with its broadcast input.
// Register blocks of MU half groups x MT rows (8 x 1 for one row, 1 x 8 for eight: 16 ymm registers; the absmax
// vectors read from memory by the multiplies).
#include "kernels/gemv_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include "kernels/nf4_lookup_avx2.h"
#include <utility>

namespace peft::kern {
namespace {

constexpr int MAX_MT = 8;

constexpr int units_for(int mt) { return mt <= 1 ? 8 : mt <= 2 ? 4 : mt <= 4 ? 2 : 1; }

// Outputs [8 u0, 8 (u0 + MU)) for input rows [t0, t0 + MT); n_last: outputs of the block's last unit (1..8).
template <int MU, int MT>
void block(const Nf4IView& w, const float* xt, int T, int t0, int u0, float* y, int ldy, int n_last) {
  const int half = w.cols / 2, nb = w.cols / 64;
  const __m256 lo_tab = _mm256_loadu_ps(w.code), hi_tab = _mm256_loadu_ps(w.code + 8);
  const uint8_t* cu[MU];
  const float* su[MU];
#pragma GCC unroll 8
  for (int u = 0; u < MU; u++) {
    const int g = (u0 + u) / 2, h = (u0 + u) % 2;
    cu[u] = w.codes + (size_t)g * half * 16 + 8 * h;
    su[u] = w.scales + (size_t)g * nb * 16 + 8 * h;
  }
  __m256 acc[MU][MT];
#pragma GCC unroll 8
  for (int u = 0; u < MU; u++)
#pragma GCC unroll 8
    for (int t = 0; t < MT; t++) acc[u][t] = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++) {
    for (int p = 32 * b; p < 32 * b + 32; p++) {
      const float* x0 = xt + (size_t)(2 * p) * T + t0;
#pragma GCC unroll 8
      for (int u = 0; u < MU; u++) {
        const __m256i d =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(cu[u] + (size_t)p * 16)));
        const __m256 s = _mm256_loadu_ps(su[u] + (size_t)b * 16);
        const __m256 w0 = _mm256_mul_ps(nf4_lookup_lanes(d, lo_tab, hi_tab), s);
        const __m256 w1 = _mm256_mul_ps(nf4_lookup_lanes(_mm256_srli_epi32(d, 4), lo_tab, hi_tab), s);
#pragma GCC unroll 8
        for (int t = 0; t < MT; t++) acc[u][t] = _mm256_fmadd_ps(_mm256_set1_ps(x0[t]), w0, acc[u][t]);
#pragma GCC unroll 8
        for (int t = 0; t < MT; t++) acc[u][t] = _mm256_fmadd_ps(_mm256_set1_ps(x0[T + t]), w1, acc[u][t]);
      }
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(n_last), lane);
#pragma GCC unroll 8
  for (int u = 0; u < MU; u++)
#pragma GCC unroll 8
    for (int t = 0; t < MT; t++) {
      float* yo = y + (size_t)(t0 + t) * ldy + 8 * (u0 + u);
      if (u == MU - 1 && n_last < 8)
        _mm256_maskstore_ps(yo, last, acc[u][t]);
      else
        _mm256_storeu_ps(yo, acc[u][t]);
    }
}

using Block = void (*)(const Nf4IView&, const float*, int, int, int, float*, int, int);

struct Blocks {
  Block many, one;
};

template <int... MT>
const Blocks& blocks_for(int mt, std::integer_sequence<int, MT...>) {
  static const Blocks table[] = {{block<units_for(MT + 1), MT + 1>, block<1, MT + 1>}...};
  return table[mt - 1];
}

void rows(const Nf4IView& w, const float*, const float* xt, int T, float* y, int ldy, int o0, int o1) {
  if (o1 <= o0 || T <= 0) return;
  const int u0 = o0 / 8, u1 = (o1 + 7) / 8;
  const int tail = o1 - 8 * (u1 - 1); // outputs in the last unit
  for (int t0 = 0; t0 < T; t0 += MAX_MT) {
    const int mt = T - t0 < MAX_MT ? T - t0 : MAX_MT, mu = units_for(mt);
    const Blocks& b = blocks_for(mt, std::make_integer_sequence<int, MAX_MT>{});
    int u = u0;
    for (; u + mu <= u1; u += mu) b.many(w, xt, T, t0, u, y, ldy, u + mu == u1 ? tail : 8);
    for (; u < u1; u++) b.one(w, xt, T, t0, u, y, ldy, u + 1 == u1 ? tail : 8);
  }
}

} // namespace

extern const Nf4InterleavedRows nf4i_rows_avx2 = rows;
extern const int nf4i_x_rows_avx2 = NF4I_X_ROWS_NEVER; // always the transposed input

} // namespace peft::kern
#else
#include "kernels/gemv_variants.h"
namespace peft::kern {
extern const Nf4InterleavedRows nf4i_rows_avx2 = nullptr;
extern const int nf4i_x_rows_avx2 = NF4I_X_ROWS_NEVER;
} // namespace peft::kern
#endif
