// AVX-512 products of a frozen projection's weight tiles in batched decoding and prompt prefill (rows_variants.h
// FrozenProducts): each output is one fp32 FMA chain over the inputs in order, y[t, o] = fma(x[t, k], W[o, k], .)
// for k = 0, 1, .., in - 1 from zero, 16 outputs to a vector. That chain is the same however rows and outputs are
// blocked, so a row's result never depends on T or on the other rows, and no lane reduction is needed: the tile is
// transposed once per call (16 outputs' weights per input, 64 bytes), then register blocks of 8 input rows x 48
// outputs run over the inputs, each weight vector used for every row of the block and each broadcast input for every
// vector of it. rows_matmul cuts frozen weights into tiles of FROZEN_TILE_ROWS (48) rows for it; an NF4 weight's tile
// is decoded from its interleaved codes (kernels/nf4_interleaved.h) straight into that transposed layout.
#include "decode/rows_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include "kernels/fma_tiles_avx512.h"

namespace peft::decode {

namespace {

using namespace kern::fma_tiles;

// wt[k * 16 * groups + 16 g + j] = W[16 g + j, k] for rows [0, rows) (rows past the end: zero), 16 x 16 blocks
// transposed in registers.
void transpose_tile(const float* W, int rows, int in, float* wt, int groups) {
  const int ld = 16 * groups;
  for (int g = 0; g < groups; g++) {
    for (int k0 = 0; k0 < in; k0 += 16) {
      const int kn = in - k0 < 16 ? in - k0 : 16;
      const __mmask16 km = (__mmask16)((1u << kn) - 1);
      __m512 r[16];
#pragma GCC unroll 16
      for (int j = 0; j < 16; j++) {
        const int o = 16 * g + j;
        r[j] = o < rows ? _mm512_maskz_loadu_ps(km, W + (size_t)o * in + k0) : _mm512_setzero_ps();
      }
      // 16 x 16 transpose: pairs, quads, then 128-bit lanes
      __m512 t[16];
#pragma GCC unroll 8
      for (int j = 0; j < 16; j += 2) {
        t[j] = _mm512_unpacklo_ps(r[j], r[j + 1]);
        t[j + 1] = _mm512_unpackhi_ps(r[j], r[j + 1]);
      }
#pragma GCC unroll 4
      for (int j = 0; j < 16; j += 4) {
        const __m512d a = _mm512_castps_pd(t[j]), b = _mm512_castps_pd(t[j + 2]), c = _mm512_castps_pd(t[j + 1]),
                      d = _mm512_castps_pd(t[j + 3]);
        r[j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        r[j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
      }
      // r[4 q + i] holds, in 128-bit lane L, element (k0 + 4 L + i) of rows 4 q .. 4 q + 3
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) {
        const __m512 a = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x44), b = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xEE),
                     c = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x44),
                     d = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xEE);
        // lanes: a = [q0.L0, q0.L1, q1.L0, q1.L1], c = [q2.L0, q2.L1, q3.L0, q3.L1] (b, d: L2, L3)
        const __m512 k0v = _mm512_shuffle_f32x4(a, c, 0x88), k1v = _mm512_shuffle_f32x4(a, c, 0xDD),
                     k2v = _mm512_shuffle_f32x4(b, d, 0x88), k3v = _mm512_shuffle_f32x4(b, d, 0xDD);
        const __m512 ks[4] = {k0v, k1v, k2v, k3v};
#pragma GCC unroll 4
        for (int L = 0; L < 4; L++) {
          const int k = 4 * L + i;
          if (k < kn) _mm512_store_ps(wt + (size_t)(k0 + k) * ld + 16 * g, ks[L]);
        }
      }
    }
  }
}

void frozen_products_avx512(const float* W, int o0, int o1, int in, const float* x, int T, float* y, int ldy) {
  const int rows = o1 - o0;
  if (rows <= 0 || T <= 0) return;
  const int groups = (rows + 15) / 16;
  float* wt = tile_buffer((size_t)in * 16 * groups);
  transpose_tile(W, rows, in, wt, groups);
  tile_products(wt, rows, groups, in, x, T, y, ldy, o0);
}

// The same from an NF4 weight's interleaved codes (o0 a multiple of 16): each group's codes decoded straight into
// the transposed layout (two inputs' 16 weights per 16-byte load; no transpose), the values code x absmax as the
// dequantizer computes them, so the products are frozen_products_avx512's over the dequantized tile.
void frozen_products_nf4_avx512(const kern::Nf4IView& w, int o0, int o1, const float* x, int T, float* y, int ldy) {
  const int rows = o1 - o0, in = w.cols;
  if (rows <= 0 || T <= 0) return;
  const int groups = (rows + 15) / 16;
  float* wt = tile_buffer((size_t)in * 16 * groups);
  decode_nf4i(w, o0 / 16, o0 / 16 + groups, wt);
  tile_products(wt, rows, groups, in, x, T, y, ldy, o0);
}

} // namespace

extern const FrozenProducts frozen_products_avx512_fn = frozen_products_avx512;
extern const FrozenNf4Products frozen_products_nf4_avx512_fn = frozen_products_nf4_avx512;

} // namespace peft::decode
#else
#include "decode/rows_variants.h"
namespace peft::decode {
extern const FrozenProducts frozen_products_avx512_fn = nullptr;
extern const FrozenNf4Products frozen_products_nf4_avx512_fn = nullptr;
} // namespace peft::decode
#endif
