// AVX2 + FMA bodies of decode/rows_matmul (built with -mavx2 -mfma -mf16c -mno-avx512f: the path for Zen 2/3 and
// Intel client CPUs): input rows in chunks that stay in L2; per chunk and tile of weight rows that stays in L1, every
// pair of input rows runs over the tile's outputs 4 at a time (2-row x 4-output register blocks of 8-lane accumulators
// over the inputs in order); the 8 accumulators reduced together by a transposed tree that adds each pair's lanes in
// exactly the order of kernels/decode_rows_avx2.cc's hsum8 on one vector (lanes i + i + 4, then 0 + 2 and 1 + 3, then
// those two), the inputs past the last multiple of 8 added after it in order; NF4 tiles decoded with per-block scaled
// code-book halves, two 8-entry permutes and a blend.
#include "decode/rows_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include "kernels/nf4_lookup_avx2.h"

namespace peft::decode {

namespace {

constexpr int MT = 2; // input rows per register block
constexpr int MO = 4; // outputs per register block

// r[c] = the lane sum of v[σ(c)], σ = 0 2 4 6 1 3 5 7 (each summed as decode_rows_avx2.cc's hsum8 sums one vector: lanes i + i + 4, then
// 0 + 2 and 1 + 3, then those two), the 8 vectors' steps side by side.
inline __m256 reduce8(const __m256 (&v)[8]) {
  __m256 u[4], p[2];
  for (int n = 0; n < 4; n++) // lanes i + i + 4: [a.lo + a.hi | b.lo + b.hi]
    u[n] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * n], v[2 * n + 1], 0x20),
                         _mm256_permute2f128_ps(v[2 * n], v[2 * n + 1], 0x31));
  for (int n = 0; n < 2; n++) { // 0 + 2, 1 + 3: half h: [v[4 n + h] x2, v[4 n + 2 + h] x2]
    const __m256d a = _mm256_castps_pd(u[2 * n]), b = _mm256_castps_pd(u[2 * n + 1]);
    p[n] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(a, b)), _mm256_castpd_ps(_mm256_unpackhi_pd(a, b)));
  }
  // the two: half h: [v[h], v[2 + h], v[4 + h], v[6 + h]]
  return _mm256_add_ps(_mm256_shuffle_ps(p[0], p[1], 0x88), _mm256_shuffle_ps(p[0], p[1], 0xDD));
}

// y[i * ldy + j] = the (input row i, weight row j) product for i < NT, j < NO (weight row j at W + j * in, input row i
// at x + i * in): 8-lane accumulators over the inputs in 8-steps, the lane reduction, then the inputs past the last
// multiple of 8 added in order.
template <int NT, int NO>
void block(const float* W, const float* x, int in, float* y, int ldy) {
  __m256 acc[NT][NO];
  for (int i = 0; i < NT; i++)
    for (int j = 0; j < NO; j++) acc[i][j] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= in; k += 8) {
    __m256 w[NO];
    for (int j = 0; j < NO; j++) w[j] = _mm256_loadu_ps(W + (size_t)j * in + k);
    for (int i = 0; i < NT; i++) {
      const __m256 xv = _mm256_loadu_ps(x + (size_t)i * in + k);
      for (int j = 0; j < NO; j++) acc[i][j] = _mm256_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  // pair p = 4 i + j (row i, output j) at lane p: v[σ^-1(p)], σ^-1(p) = 2 (p % 4) + p / 4
  const __m256 zero = _mm256_setzero_ps();
  __m256 v[8];
  for (int p = 0; p < 8; p++)
    v[2 * (p % 4) + p / 4] = p / 4 < NT && p % 4 < NO ? acc[(p / 4) % NT][(p % 4) % NO] : zero;
  alignas(32) float s[8];
  _mm256_store_ps(s, reduce8(v));
  for (int i = 0; i < NT; i++) {
    float* yr = y + (size_t)i * ldy;
    if (k < in) {
      const float* xr = x + (size_t)i * in;
      for (int j = 0; j < NO; j++) {
        const float* wr = W + (size_t)j * in;
        float t = s[4 * i + j];
        for (int kk = k; kk < in; kk++) t += wr[kk] * xr[kk];
        yr[j] = t;
      }
    } else if (NO == 4) {
      _mm_storeu_ps(yr, _mm_load_ps(s + 4 * i));
    } else {
      for (int j = 0; j < NO; j++) yr[j] = s[4 * i + j];
    }
  }
}

using Block = void (*)(const float*, const float*, int, float*, int);

template <int NT>
constexpr Block pick(int no) {
  return no == 4 ? block<NT, 4> : no == 3 ? block<NT, 3> : no == 2 ? block<NT, 2> : block<NT, 1>;
}

// Input rows per pass over the weight rows: about 256 KB of them (a multiple of MT), so that they stay in L2 while
// every tile of weight rows runs over them.
int row_chunk(int in) {
  const int rows = (256 * 1024 / 4) / (in > 0 ? in : 1) / MT * MT;
  return rows > MT ? rows : MT;
}

// Weight rows every row block runs over before the next ones: up to 16 whose fp32 values stay in L1 (about 40 KB), at
// least one register block.
int tile_out(int in) {
  const int rows = (40 * 1024 / 4) / (in > 0 ? in : 1) / MO * MO;
  return rows < MO ? MO : rows > 16 ? 16 : rows;
}

void products(const float* W, int o0, int o1, int in, const float* x, int T, float* y, int ldy) {
  const int rc = row_chunk(in), to = tile_out(in);
  for (int t0 = 0; t0 < T; t0 += rc) {
    const int t1 = T - t0 < rc ? T : t0 + rc;
    for (int ot = o0; ot < o1; ot += to) {
      const int oe = o1 - ot < to ? o1 : ot + to;
      for (int t = t0; t < t1; t += MT) {
        const int nt = t1 - t < MT ? t1 - t : MT;
        for (int o = ot; o < oe; o += MO) {
          const int no = oe - o < MO ? oe - o : MO;
          (nt == 2 ? pick<2>(no) : pick<1>(no))(W + (size_t)(o - o0) * in, x + (size_t)t * in, in,
                                                y + (size_t)t * ldy + o, ldy);
        }
      }
    }
  }
}

// NF4 blocks to fp32: per block the code book's two halves times its absmax (the products the fp32 tile holds), then
// 8 codes at a time looked up with two 8-entry permutes and a blend.
void dequant(const kern::Nf4View& w, size_t b0, size_t nb, float* out) {
  const __m256 lo_tab = _mm256_loadu_ps(w.code), hi_tab = _mm256_loadu_ps(w.code + 8);
  for (size_t b = 0; b < nb; b++) {
    const uint8_t* p = w.packed + (b0 + b) * 32;
    const __m256 va = _mm256_set1_ps(kern::nf4_view_absmax(w, b0 + b));
    const __m256 lo = _mm256_mul_ps(lo_tab, va), hi = _mm256_mul_ps(hi_tab, va);
    for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + b * 64 + 8 * q, kern::nf4_lookup8(p + 4 * q, lo, hi));
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
