// AVX512-BF16 bodies of decode/rows_matmul's bf16 mode (built with the avx512bf16 flags of build-flags.mjs): bf16
// weights times bf16 inputs with vdpbf16ps (two products per fp32 lane per instruction, 32 inputs per step, the
// last step masked), a 4x4 register block of (row, output) accumulators and a fixed lane reduction per pair, so a
// row's result never depends on the other rows; NF4 tiles decoded with a per-block table of the 16 code values in
// bf16 (round to nearest even) and word permutes; input rows rounded the same way.
#include "decode/rows_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
#include <immintrin.h>

namespace peft::decode {

namespace {

inline __m512bh load_bh(const uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }
inline __m512bh load_bh_tail(__mmask32 m, const uint16_t* p) { return (__m512bh)_mm512_maskz_loadu_epi16(m, p); }

// y[t, o0 + j] for rows t0..t0+MT-1 and j < MO (weight row o0 + j at W + j * in, input rows at x + t * in); pf: the
// next weight block to prefetch (or null: the bf16 lm_head is streamed from memory).
template <int MT, int MO>
inline void block(const uint16_t* W, const uint16_t* x, int in, int t0, int o0, float* y, int ldy, const uint16_t* pf) {
  __m512 acc[MT][MO];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) acc[i][j] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 32 <= in; k += 32) {
    if (pf)
      for (int j = 0; j < MO; j++) _mm_prefetch((const char*)(pf + (size_t)j * in + k), _MM_HINT_T0);
    __m512bh w[MO];
    for (int j = 0; j < MO; j++) w[j] = load_bh(W + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m512bh xv = load_bh(x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], w[j], xv);
    }
  }
  if (k < in) {
    const __mmask32 m = (__mmask32)((1ull << (in - k)) - 1);
    __m512bh w[MO];
    for (int j = 0; j < MO; j++) w[j] = load_bh_tail(m, W + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m512bh xv = load_bh_tail(m, x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], w[j], xv);
    }
  }
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) y[(size_t)(t0 + i) * ldy + o0 + j] = _mm512_reduce_add_ps(acc[i][j]);
}

template <int MO>
inline void rows_block(const uint16_t* W, const uint16_t* x, int in, int T, int o0, float* y, int ldy,
                       const uint16_t* pf) {
  int t = 0;
  for (; t + 4 <= T; t += 4, pf = nullptr) block<4, MO>(W, x, in, t, o0, y, ldy, pf);
  switch (T - t) {
    case 3: block<3, MO>(W, x, in, t, o0, y, ldy, pf); break;
    case 2: block<2, MO>(W, x, in, t, o0, y, ldy, pf); break;
    case 1: block<1, MO>(W, x, in, t, o0, y, ldy, pf); break;
    default: break;
  }
}

// Input rows per pass over a weight tile: a prompt's hundreds of rows would stream from beyond L2 once per four
// outputs; 64 rows of at most a few thousand bf16 inputs stay in L2 while the tile's outputs run over them.
constexpr int ROW_CHUNK = 64;

void products_chunk(const uint16_t* W, int o0, int o1, int in, const uint16_t* x, int T, float* y, int ldy) {
  int o = o0;
  for (; o + 4 <= o1; o += 4) {
    const uint16_t* w = W + (size_t)(o - o0) * in;
    rows_block<4>(w, x, in, T, o, y, ldy, o + 8 <= o1 ? w + (size_t)4 * in : nullptr);
  }
  const uint16_t* w = W + (size_t)(o - o0) * in;
  switch (o1 - o) {
    case 3: rows_block<3>(w, x, in, T, o, y, ldy, nullptr); break;
    case 2: rows_block<2>(w, x, in, T, o, y, ldy, nullptr); break;
    case 1: rows_block<1>(w, x, in, T, o, y, ldy, nullptr); break;
    default: break;
  }
}

void products_bf16(const uint16_t* W, int o0, int o1, int in, const uint16_t* x, int T, float* y, int ldy) {
  for (int t = 0; t < T; t += ROW_CHUNK)
    products_chunk(W, o0, o1, in, x + (size_t)t * in, T - t < ROW_CHUNK ? T - t : ROW_CHUNK, y + (size_t)t * ldy, ldy);
}

// NF4 blocks [b0, b0 + nb) to bf16: per block the 16 code values times its absmax in fp32, rounded to bf16 once (the
// values the fp32 tiles hold, rounded), then its 64 codes looked up in them with two 32-word permutes.
void dequant_bf16(const kern::Nf4View& w, size_t b0, size_t nb, uint16_t* out) {
  const __m512 table = _mm512_loadu_ps(w.code);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (size_t b = 0; b < nb; b++) {
    const __m512 vals = _mm512_mul_ps(table, _mm512_set1_ps(kern::nf4_view_absmax(w, b0 + b)));
    const __m512i lut = _mm512_zextsi256_si512((__m256i)_mm512_cvtneps_pbh(vals)); // words 0..15
    const __m256i p = _mm256_loadu_si256((const __m256i*)(w.packed + (b0 + b) * 32));
    const __m256i lo = _mm256_and_si256(p, low4), hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), low4);
    // per 128-bit lane: unpacklo = codes of bytes 0..7 (low nibble first), unpackhi = bytes 8..15
    const __m256i u0 = _mm256_unpacklo_epi8(lo, hi), u1 = _mm256_unpackhi_epi8(lo, hi);
    const __m256i first = _mm256_permute2x128_si256(u0, u1, 0x20), second = _mm256_permute2x128_si256(u0, u1, 0x31);
    _mm512_storeu_si512(out + b * 64, _mm512_permutexvar_epi16(_mm512_cvtepu8_epi16(first), lut));
    _mm512_storeu_si512(out + b * 64 + 32, _mm512_permutexvar_epi16(_mm512_cvtepu8_epi16(second), lut));
  }
}

// n fp32 values to bf16 (round to nearest even, as dequant_bf16 rounds).
void to_bf16(const float* x, size_t n, uint16_t* out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256((__m256i*)(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(out + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

} // namespace

const RowsBf16Kernels rows_bf16_kernels_avx512bf16{products_bf16, dequant_bf16, to_bf16};

} // namespace peft::decode
#else
namespace peft::decode {
const RowsBf16Kernels rows_bf16_kernels_avx512bf16{nullptr, nullptr, nullptr};
} // namespace peft::decode
#endif
