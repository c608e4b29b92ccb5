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
#include <utility>
#include <vector>

namespace peft::decode {

namespace {

// Register blocks of 8 input rows x 3 vectors of 16 outputs (24 accumulators; 3 weight loads and 8 broadcasts per 24
// FMAs): 88 GMAC/s on one Ice Lake core against 41 for 12 rows x 1 vector (one load per FMA) and 70 for 6 x 2. A
// tile's last outputs take 1 or 2 vectors (the last one masked) with the same 8 rows.
constexpr int NG = 3;
constexpr int MT = 8;

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
  const int groups = (rows + 15) / 16, ld = 16 * groups, half = in / 2, nb = in / 64;
  float* wt = tile_buffer((size_t)in * ld);
  const __m512 table = _mm512_loadu_ps(w.code);
  for (int g = 0; g < groups; g++) {
    const uint8_t* c = w.codes + (size_t)(o0 / 16 + g) * half * 16;
    const float* sc = w.scales + (size_t)(o0 / 16 + g) * nb * 16;
    for (int b = 0; b < nb; b++) {
      const __m512 s = _mm512_loadu_ps(sc + (size_t)b * 16);
      for (int p = 32 * b; p < 32 * b + 32; p++) {
        const __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + (size_t)p * 16)));
        _mm512_store_ps(wt + (size_t)(2 * p) * ld + 16 * g, _mm512_mul_ps(_mm512_permutexvar_ps(d, table), s));
        _mm512_store_ps(wt + (size_t)(2 * p + 1) * ld + 16 * g,
                        _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), table), s));
      }
    }
  }
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
