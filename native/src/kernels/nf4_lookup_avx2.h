// The AVX2 NF4 code-book lookup shared by the AVX2 units (gemv_avx2.cc, simd_avx2.cc, decode/rows_matmul_avx2.cc,
// nf4_interleaved_avx2.cc, decode/rows_frozen_avx2.cc):
// static, so each keeps its own copy compiled with its own flags. Include only from units built with -mavx2.
#pragma once
#include <immintrin.h>
#include <cstdint>
#include <cstring>

namespace peft::kern {

// The code-book values of the 8 codes in the low 4 bits of idx's lanes (higher bits ignored): two 8-entry permutes
// (codes 0-7 and 8-15) and a blend on bit 3.
static inline __m256 nf4_lookup_lanes(__m256i idx, __m256 lo_tab, __m256 hi_tab) {
  const __m256 a = _mm256_permutevar8x32_ps(lo_tab, idx), c = _mm256_permutevar8x32_ps(hi_tab, idx);
  return _mm256_blendv_ps(a, c, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28))); // bit 3 -> sign: upper half
}

// 8 codes (4 packed bytes, low nibble first) -> their code-book values, in element order: two 8-entry permutes
// (codes 0-7 and 8-15) and a blend on bit 3.
static inline __m256 nf4_lookup8(const uint8_t* p, __m256 lo_tab, __m256 hi_tab) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  const __m128i b = _mm_cvtsi32_si128((int)v);
  const __m128i m = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
  return nf4_lookup_lanes(_mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)), lo_tab, hi_tab);
}

} // namespace peft::kern
