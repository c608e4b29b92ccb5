// AVX2 + FMA bodies of decode/rows_matmul (built with -mavx2 -mfma -mf16c -mno-avx512f: the path for Zen 2/3 and
// Intel client CPUs): a 2-row x 4-output register block of 8-lane accumulators over the inputs in order, one fixed
// lane reduction per pair, the inputs past the last multiple of 8 added after it in order; NF4 tiles decoded with two
// 8-entry permutes and a blend.
#include "decode/rows_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include "kernels/nf4_lookup_avx2.h"

namespace peft::decode {

namespace {

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

template <int MT, int MO>
inline void block(const float* W, const float* x, int in, int t0, int o0, float* y, int ldy) {
  __m256 acc[MT][MO];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) acc[i][j] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= in; k += 8) {
    __m256 w[MO];
    for (int j = 0; j < MO; j++) w[j] = _mm256_loadu_ps(W + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m256 xv = _mm256_loadu_ps(x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm256_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) {
      float s = hsum(acc[i][j]);
      const float* w = W + (size_t)j * in;
      const float* xr = x + (size_t)(t0 + i) * in;
      for (int kk = k; kk < in; kk++) s += w[kk] * xr[kk];
      y[(size_t)(t0 + i) * ldy + o0 + j] = s;
    }
}

template <int MO>
inline void rows_block(const float* W, const float* x, int in, int T, int o0, float* y, int ldy) {
  int t = 0;
  for (; t + 2 <= T; t += 2) block<2, MO>(W, x, in, t, o0, y, ldy);
  if (t < T) block<1, MO>(W, x, in, t, o0, y, ldy);
}

void products(const float* W, int o0, int o1, int in, const float* x, int T, float* y, int ldy) {
  int o = o0;
  for (; o + 4 <= o1; o += 4) rows_block<4>(W + (size_t)(o - o0) * in, x, in, T, o, y, ldy);
  const float* w = W + (size_t)(o - o0) * in;
  switch (o1 - o) {
    case 3: rows_block<3>(w, x, in, T, o, y, ldy); break;
    case 2: rows_block<2>(w, x, in, T, o, y, ldy); break;
    case 1: rows_block<1>(w, x, in, T, o, y, ldy); break;
    default: break;
  }
}

void dequant(const kern::Nf4View& w, size_t b0, size_t nb, float* out) {
  const __m256 lo_tab = _mm256_loadu_ps(w.code), hi_tab = _mm256_loadu_ps(w.code + 8);
  for (size_t b = 0; b < nb; b++) {
    const uint8_t* p = w.packed + (b0 + b) * 32;
    const __m256 va = _mm256_set1_ps(kern::nf4_view_absmax(w, b0 + b));
    for (int q = 0; q < 8; q++)
      _mm256_storeu_ps(out + b * 64 + 8 * q, _mm256_mul_ps(kern::nf4_lookup8(p + 4 * q, lo_tab, hi_tab), va));
  }
}

} // namespace

const RowsKernels rows_kernels_avx2{products, dequant};

} // namespace peft::decode
#else
namespace peft::decode {
const RowsKernels rows_kernels_avx2{nullptr, nullptr};
} // namespace peft::decode
#endif
