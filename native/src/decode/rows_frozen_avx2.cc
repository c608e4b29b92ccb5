// AVX2 + FMA products of an NF4 frozen projection's tiles in batched decoding and prompt prefill (rows_variants.h
// FrozenNf4Products): each output one fp32 FMA chain over the inputs in order, y[t, o] = fma(x[t, k], W[o, k], .)
// from zero, 8 outputs to a vector: the numbers of the interleaved NF4 decode products (kernels/nf4_interleaved.h)
// on every ISA, so a prompt's chunks and its decode rows agree. A tile's codes are decoded from the interleaved layout
// straight into 8-output vectors per input (no transpose), then register blocks of 4 input rows x 3 vectors (12
// accumulators; 3 weight loads and 4 broadcasts per 12 FMAs) run over the inputs.
#include "decode/rows_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include "kernels/nf4_lookup_avx2.h"
#include <cstdint>
#include <utility>
#include <vector>

namespace peft::decode {

namespace {

constexpr int NV = 3; // vectors of 8 outputs per register block
constexpr int MT = 4; // input rows per register block

// y[t * ldy + 8 v + j] for t < NT rows, v < NVB vectors (the last one's first n_last outputs stored).
template <int NT, int NVB>
void block(const float* wt, int ld, const float* x, int in, float* y, int ldy, int n_last) {
  __m256 acc[NT][NVB];
#pragma GCC unroll 4
  for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
    for (int v = 0; v < NVB; v++) acc[t][v] = _mm256_setzero_ps();
  for (int k = 0; k < in; k++) {
    __m256 w[NVB];
#pragma GCC unroll 4
    for (int v = 0; v < NVB; v++) w[v] = _mm256_load_ps(wt + (size_t)k * ld + 8 * v);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
      const __m256 xv = _mm256_broadcast_ss(x + (size_t)t * in + k);
#pragma GCC unroll 4
      for (int v = 0; v < NVB; v++) acc[t][v] = _mm256_fmadd_ps(xv, w[v], acc[t][v]);
    }
  }
  const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(n_last), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 4
  for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
    for (int v = 0; v < NVB; v++) {
      float* yo = y + (size_t)t * ldy + 8 * v;
      if (v == NVB - 1 && n_last < 8)
        _mm256_maskstore_ps(yo, last, acc[t][v]);
      else
        _mm256_storeu_ps(yo, acc[t][v]);
    }
}

using Block = void (*)(const float*, int, const float*, int, float*, int, int);

template <int NVB, int... NT>
Block pick(int nt, std::integer_sequence<int, NT...>) {
  static constexpr Block blocks[] = {block<NT + 1, NVB>...};
  return blocks[nt - 1];
}

Block pick_block(int nt, int nv) {
  const auto rows = std::make_integer_sequence<int, MT>{};
  return nv == 3 ? pick<3>(nt, rows) : nv == 2 ? pick<2>(nt, rows) : pick<1>(nt, rows);
}

void frozen_products_nf4_avx2(const kern::Nf4IView& w, int o0, int o1, const float* x, int T, float* y, int ldy) {
  const int rows = o1 - o0, in = w.cols;
  if (rows <= 0 || T <= 0) return;
  const int vecs = (rows + 7) / 8, ld = 8 * vecs, half = in / 2, nb = in / 64;
  thread_local std::vector<float> buf;
  if (buf.size() < (size_t)in * ld + 8) buf.resize((size_t)in * ld + 8);
  float* wt = buf.data() + ((32 - reinterpret_cast<uintptr_t>(buf.data()) % 32) % 32) / sizeof(float);
  const __m256 lo_tab = _mm256_loadu_ps(w.code), hi_tab = _mm256_loadu_ps(w.code + 8);
  for (int v = 0; v < vecs; v++) { // vector v: outputs o0 + 8 v .. (half h of group g)
    const int u = o0 / 8 + v, g = u / 2, h = u % 2;
    const uint8_t* c = w.codes + (size_t)g * half * 16 + 8 * h;
    const float* sc = w.scales + (size_t)g * nb * 16 + 8 * h;
    for (int b = 0; b < nb; b++) {
      const __m256 s = _mm256_loadu_ps(sc + (size_t)b * 16);
      for (int p = 32 * b; p < 32 * b + 32; p++) {
        const __m256i d = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + (size_t)p * 16)));
        _mm256_store_ps(wt + (size_t)(2 * p) * ld + 8 * v, _mm256_mul_ps(kern::nf4_lookup_lanes(d, lo_tab, hi_tab), s));
        _mm256_store_ps(wt + (size_t)(2 * p + 1) * ld + 8 * v,
                        _mm256_mul_ps(kern::nf4_lookup_lanes(_mm256_srli_epi32(d, 4), lo_tab, hi_tab), s));
      }
    }
  }
  for (int v0 = 0; v0 < vecs; v0 += NV) {
    const int nv = vecs - v0 < NV ? vecs - v0 : NV;
    const int n_last = rows - 8 * (v0 + nv - 1); // outputs in the block's last vector
    for (int t = 0; t < T; t += MT) {
      const int nt = T - t < MT ? T - t : MT;
      pick_block(nt, nv)(wt + 8 * v0, ld, x + (size_t)t * in, in, y + (size_t)t * ldy + o0 + 8 * v0, ldy,
                         n_last > 8 ? 8 : n_last);
    }
  }
}

} // namespace

extern const FrozenNf4Products frozen_products_nf4_avx2_fn = frozen_products_nf4_avx2;

} // namespace peft::decode
#else
#include "decode/rows_variants.h"
namespace peft::decode {
extern const FrozenNf4Products frozen_products_nf4_avx2_fn = nullptr;
} // namespace peft::decode
#endif
