// AVX-512 body of the interleaved NF4 decode products (gemv_variants.h, Nf4InterleavedRows): 16 outputs to a vector.
// Per pair of inputs, one 16-byte load holds a group's 32 codes; one vpmovzxbd and two 16-entry permutes (low
// nibbles, high nibbles) give its weights for both inputs, each scaled by the block's absmax vector; then every input
// row of the register block takes an FMA with its broadcast input. Register blocks of MG groups x MT rows (4 x 1 for
// one row: the chains of four groups in flight, as decode_rows' tasks hold 64 outputs; 1 x 16 for sixteen rows: 32
// FMAs per group decoded).
#include "kernels/gemv_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include <utility>
#include "kernels/fma_tiles_avx512.h"

namespace peft::kern {
namespace {

constexpr int MAX_MT = 16; // input rows per register block below TILE_MIN_ROWS
// From this many rows the groups are decoded once into a tile (fma_tiles_avx512.h) whose register blocks share each
// broadcast input among three vectors: fewer loads per FMA than broadcasting per group (one thread, SmolLM2-135M
// projections, loaded machine: 16 rows 54 vs 42 GMAC/s, 12 rows 50 vs ~42; 8 rows about equal).
constexpr int TILE_MIN_ROWS = 12;

// Groups per register block for MT rows: enough decoding to overlap when rows are few, the accumulators in registers.
constexpr int groups_for(int mt) { return mt <= 4 ? 4 : mt <= 8 ? 2 : 1; }

// Outputs [16 g0, 16 (g0 + MG)) for input rows [t0, t0 + MT); last: the store mask of the block's last group.
template <int MG, int MT>
void block(const Nf4IView& w, const float* xt, int T, int t0, int g0, float* y, int ldy, __mmask16 last) {
  const int half = w.cols / 2, nb = w.cols / 64;
  const __m512 table = _mm512_loadu_ps(w.code);
  const uint8_t* cg[MG];
  const float* sg[MG];
#pragma GCC unroll 8
  for (int g = 0; g < MG; g++) {
    cg[g] = w.codes + (size_t)(g0 + g) * half * 16;
    sg[g] = w.scales + (size_t)(g0 + g) * nb * 16;
  }
  // (loops over g and t unrolled so that the accumulators live in registers: the addon builds at -O2 for unrolling)
  __m512 acc[MG][MT];
#pragma GCC unroll 8
  for (int g = 0; g < MG; g++)
#pragma GCC unroll 16
    for (int t = 0; t < MT; t++) acc[g][t] = _mm512_setzero_ps();
  for (int b = 0; b < nb; b++) {
    __m512 s[MG];
#pragma GCC unroll 8
    for (int g = 0; g < MG; g++) s[g] = _mm512_loadu_ps(sg[g] + (size_t)b * 16);
    for (int p = 32 * b; p < 32 * b + 32; p++) {
      const float* x0 = xt + (size_t)(2 * p) * T + t0; // input 2p of the block's rows; input 2p + 1 at x0 + T
#pragma GCC unroll 8
      for (int g = 0; g < MG; g++) {
        const __m512i d =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(cg[g] + (size_t)p * 16)));
        const __m512 w0 = _mm512_mul_ps(_mm512_permutexvar_ps(d, table), s[g]);
        const __m512 w1 = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), table), s[g]);
#pragma GCC unroll 16
        for (int t = 0; t < MT; t++) acc[g][t] = _mm512_fmadd_ps(_mm512_set1_ps(x0[t]), w0, acc[g][t]);
#pragma GCC unroll 16
        for (int t = 0; t < MT; t++) acc[g][t] = _mm512_fmadd_ps(_mm512_set1_ps(x0[T + t]), w1, acc[g][t]);
      }
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < MG; g++)
#pragma GCC unroll 16
    for (int t = 0; t < MT; t++)
      _mm512_mask_storeu_ps(y + (size_t)(t0 + t) * ldy + 16 * (g0 + g), g == MG - 1 ? last : (__mmask16)0xFFFF,
                            acc[g][t]);
}

using Block = void (*)(const Nf4IView&, const float*, int, int, int, float*, int, __mmask16);

struct Blocks {
  Block many, one; // groups_for(MT) groups, one group
};

template <int... MT>
const Blocks& blocks_for(int mt, std::integer_sequence<int, MT...>) {
  static const Blocks table[] = {{block<groups_for(MT + 1), MT + 1>, block<1, MT + 1>}...};
  return table[mt - 1];
}

void rows(const Nf4IView& w, const float* x, const float* xt, int T, float* y, int ldy, int o0, int o1) {
  if (o1 <= o0 || T <= 0) return;
  const int g0 = o0 / 16, g1 = (o1 + 15) / 16;
  if (T >= TILE_MIN_ROWS) { // tiles of 3 groups decoded once, then 8-row x 48-output register blocks over each
    float* wt = fma_tiles::tile_buffer((size_t)w.cols * 48);
    for (int g = g0; g < g1; g += 3) {
      const int ge = g + 3 < g1 ? g + 3 : g1, e = 16 * ge < o1 ? 16 * ge : o1;
      fma_tiles::decode_nf4i(w, g, ge, wt);
      fma_tiles::tile_products(wt, e - 16 * g, ge - g, w.cols, x, T, y, ldy, 16 * g);
    }
    return;
  }
  const int tail = o1 - 16 * (g1 - 1); // outputs in the last group
  const __mmask16 last = (__mmask16)(tail >= 16 ? 0xFFFF : (1u << tail) - 1);
  for (int t0 = 0; t0 < T; t0 += MAX_MT) {
    const int mt = T - t0 < MAX_MT ? T - t0 : MAX_MT, mg = groups_for(mt);
    const Blocks& b = blocks_for(mt, std::make_integer_sequence<int, MAX_MT>{});
    int g = g0;
    for (; g + mg <= g1; g += mg) b.many(w, xt, T, t0, g, y, ldy, g + mg == g1 ? last : (__mmask16)0xFFFF);
    for (; g < g1; g++) b.one(w, xt, T, t0, g, y, ldy, g + 1 == g1 ? last : (__mmask16)0xFFFF);
  }
}

} // namespace

extern const Nf4InterleavedRows nf4i_rows_avx512 = rows;
extern const int nf4i_x_rows_avx512 = TILE_MIN_ROWS; // the tiles' register blocks read x as it is

} // namespace peft::kern
#else
#include "kernels/gemv_variants.h"
namespace peft::kern {
extern const Nf4InterleavedRows nf4i_rows_avx512 = nullptr;
extern const int nf4i_x_rows_avx512 = NF4I_X_ROWS_NEVER;
} // namespace peft::kern
#endif
