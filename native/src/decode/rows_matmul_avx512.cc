// AVX-512 bodies of decode/rows_matmul (built with the avx512 flags of build-flags.mjs): a 4x4 register block of
// (row, output) accumulators, the inputs in 16-lane steps (the last step masked), a fixed lane reduction per pair; the
// first row block of each weight block prefetches the next one (the fp32 lm_head is streamed from memory); NF4 tiles
// decoded with a 16-entry permute.
#include "decode/rows_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include <cstring>

namespace peft::decode {

namespace {

// y[t, o0 + j] for rows t0..t0+MT-1 and j < MO (weight row o0 + j at W + j * in, x rows at x + t * in); pf: the next
// weight block to prefetch (or null).
template <int MT, int MO>
inline void block(const float* W, const float* x, int in, int t0, int o0, float* y, int ldy, const float* pf) {
  __m512 acc[MT][MO];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) acc[i][j] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 16 <= in; k += 16) {
    if (pf)
      for (int j = 0; j < MO; j++) _mm_prefetch((const char*)(pf + (size_t)j * in + k), _MM_HINT_T0);
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
}

template <int MO>
inline void rows_block(const float* W, const float* x, int in, int T, int o0, float* y, int ldy, const float* pf) {
  int t = 0;
  for (; t + 4 <= T; t += 4, pf = nullptr) block<4, MO>(W, x, in, t, o0, y, ldy, pf);
  switch (T - t) {
    case 3: block<3, MO>(W, x, in, t, o0, y, ldy, pf); break;
    case 2: block<2, MO>(W, x, in, t, o0, y, ldy, pf); break;
    case 1: block<1, MO>(W, x, in, t, o0, y, ldy, pf); break;
    default: break;
  }
}

void products_avx512(const float* W, int o0, int o1, int in, const float* x, int T, float* y, int ldy) {
  int o = o0;
  for (; o + 4 <= o1; o += 4) {
    const float* w = W + (size_t)(o - o0) * in;
    rows_block<4>(w, x, in, T, o, y, ldy, o + 8 <= o1 ? w + (size_t)4 * in : nullptr);
  }
  const float* w = W + (size_t)(o - o0) * in;
  switch (o1 - o) {
    case 3: rows_block<3>(w, x, in, T, o, y, ldy, nullptr); break;
    case 2: rows_block<2>(w, x, in, T, o, y, ldy, nullptr); break;
    case 1: rows_block<1>(w, x, in, T, o, y, ldy, nullptr); break;
    default: break;
  }
}

// 16 codes (8 packed bytes, low nibble first) -> 16 code indices as int32 lanes, in element order.
inline __m512i unpack16(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  const __m128i b = _mm_cvtsi64_si128((long long)v);
  const __m128i lo = _mm_and_si128(b, _mm_set1_epi8(0x0F)),
                hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0x0F));
  return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
}

void dequant_avx512(const kern::Nf4View& w, size_t b0, size_t nb, float* out) {
  const __m512 table = _mm512_loadu_ps(w.code);
  for (size_t b = 0; b < nb; b++) {
    const uint8_t* p = w.packed + (b0 + b) * 32;
    const __m512 va = _mm512_set1_ps(kern::nf4_view_absmax(w, b0 + b));
    for (int q = 0; q < 4; q++)
      _mm512_storeu_ps(out + b * 64 + 16 * q, _mm512_mul_ps(_mm512_permutexvar_ps(unpack16(p + 8 * q), table), va));
  }
}

} // namespace

const RowsKernels rows_kernels_avx512{products_avx512, dequant_avx512};

} // namespace peft::decode
#else
namespace peft::decode {
const RowsKernels rows_kernels_avx512{nullptr, nullptr};
} // namespace peft::decode
#endif
