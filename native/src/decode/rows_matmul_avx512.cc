// AVX-512 bodies of decode/rows_matmul (built with the avx512 flags of build-flags.mjs): input rows in chunks that stay
// in L2; per chunk and tile of 8 weight rows, every block of 6 input rows runs over the tile's outputs 4 at a time
// (6x4 register blocks of 16-lane (row, output) accumulators over the inputs in order, the last step masked; rows over
// 768 inputs in chunks, the accumulators kept in memory between them), so that the tile and the block stay in L1; the
// accumulators reduced 16 at a time by a transposed tree that adds each pair's lanes in exactly the order of
// _mm512_reduce_add_ps (the same bits as one reduction per pair, and as kernels/decode_rows_avx512.cc); the first row
// block prefetches the next weight rows (the fp32 lm_head is streamed from memory); NF4 tiles decoded with per-block
// scaled code books and 16-entry permutes.
#include "decode/rows_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>

namespace peft::decode {

namespace {

constexpr int MT = 6; // input rows per register block
constexpr int MO = 4; // outputs per register block
// Weight rows every row block runs over before the next ones, and inputs per pass: a tile's 8 rows and a block's 6
// over at most 768 inputs are 43 KB, so both stay in L1 while the tile's outputs run over the block.
constexpr int TILE_OUT = 8;
constexpr int K_CHUNK = 768;

// r[4 c + m] = the lane sum of v[c + 4 m], each summed as _mm512_reduce_add_ps sums one vector (GCC's avx512fintrin.h:
// lanes i + i + 8, then the 8 sums i + i + 4, then i + i + 2, then 0 + 1), the 16 vectors' steps side by side.
inline __m512 reduce16(const __m512 (&v)[16]) {
  __m512 u[8], p[4], r[2];
  for (int n = 0; n < 8; n++) // lanes i + i + 8: [a.q0 + a.q2, a.q1 + a.q3, b.q0 + b.q2, b.q1 + b.q3]
    u[n] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * n], v[2 * n + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * n], v[2 * n + 1], 0xEE));
  for (int n = 0; n < 4; n++) // i + i + 4: quarter c of p[n] holds vector 4 n + c's four sums
    p[n] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * n], u[2 * n + 1], 0x88),
                         _mm512_shuffle_f32x4(u[2 * n], u[2 * n + 1], 0xDD));
  for (int n = 0; n < 2; n++) { // i + i + 2: quarter c: [v[8 n + c] x2, v[8 n + 4 + c] x2]
    const __m512d a = _mm512_castps_pd(p[2 * n]), b = _mm512_castps_pd(p[2 * n + 1]);
    r[n] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  // 0 + 1: quarter c: [v[c], v[c + 4], v[c + 8], v[c + 12]]
  return _mm512_add_ps(_mm512_shuffle_ps(r[0], r[1], 0x88), _mm512_shuffle_ps(r[0], r[1], 0xDD));
}

// y[i * ldy + j] for i < NT rows and j < NO outputs: the lane sums of acc, 4 rows at a time through reduce16.
template <int NT, int NO>
inline void reduce_store(const __m512 (&acc)[NT][NO], float* y, int ldy) {
  const __m512 zero = _mm512_setzero_ps();
  for (int g = 0; g < NT; g += 4) {
    __m512 v[16];
    for (int c = 0; c < 4; c++)
      for (int m = 0; m < 4; m++) v[c + 4 * m] = g + c < NT && m < NO ? acc[(g + c) % NT][m % NO] : zero;
    alignas(64) float s[16];
    _mm512_store_ps(s, reduce16(v));
    for (int c = 0; c < 4 && g + c < NT; c++) {
      float* yr = y + (size_t)(g + c) * ldy;
      if (NO == 4)
        _mm_storeu_ps(yr, _mm_load_ps(s + 4 * c));
      else
        for (int m = 0; m < NO; m++) yr[m] = s[4 * c + m];
    }
  }
}

// Inputs [k0, k1) of the (input row i, weight row j) products for i < NT, j < NO (weight row j at W + j * in, input
// row i at x + i * in; k0 a multiple of 16, k1 too but for k1 == in): 16-lane accumulators over the inputs in order
// (the last step masked) that start at zero (k0 == 0) or from acc_mem, and go back there or, after the last inputs,
// through reduce_store into y[i * ldy + j]; pf: the next weight rows to prefetch (or null).
template <int NT, int NO>
void block(const float* W, const float* x, int in, int k0, int k1, __m512* acc_mem, float* y, int ldy,
           const float* pf) {
  __m512 acc[NT][NO];
  for (int i = 0; i < NT; i++)
    for (int j = 0; j < NO; j++) acc[i][j] = k0 == 0 ? _mm512_setzero_ps() : acc_mem[i * NO + j];
  int k = k0;
  for (; k + 16 <= k1; k += 16) {
    if (pf)
      for (int j = 0; j < NO; j++) _mm_prefetch((const char*)(pf + (size_t)j * in + k), _MM_HINT_T0);
    __m512 w[NO];
    for (int j = 0; j < NO; j++) w[j] = _mm512_loadu_ps(W + (size_t)j * in + k);
    for (int i = 0; i < NT; i++) {
      const __m512 xv = _mm512_loadu_ps(x + (size_t)i * in + k);
      for (int j = 0; j < NO; j++) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  if (k < k1) {
    const __mmask16 m = (__mmask16)((1u << (k1 - k)) - 1);
    __m512 w[NO];
    for (int j = 0; j < NO; j++) w[j] = _mm512_maskz_loadu_ps(m, W + (size_t)j * in + k);
    for (int i = 0; i < NT; i++) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)i * in + k);
      for (int j = 0; j < NO; j++) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  if (k1 == in) {
    reduce_store<NT, NO>(acc, y, ldy);
  } else {
    for (int i = 0; i < NT; i++)
      for (int j = 0; j < NO; j++) acc_mem[i * NO + j] = acc[i][j];
  }
}

using Block = void (*)(const float*, const float*, int, int, int, __m512*, float*, int, const float*);

template <int NT>
constexpr Block pick(int no) {
  return no == 4 ? block<NT, 4> : no == 3 ? block<NT, 3> : no == 2 ? block<NT, 2> : block<NT, 1>;
}

Block pick_block(int nt, int no) {
  switch (nt) {
    case 6: return pick<6>(no);
    case 5: return pick<5>(no);
    case 4: return pick<4>(no);
    case 3: return pick<3>(no);
    case 2: return pick<2>(no);
    default: return pick<1>(no);
  }
}

// Input rows per pass over the weight rows: about 256 KB of them (a multiple of MT), so that they stay in L2 while
// every tile of TILE_OUT weight rows runs over them.
int row_chunk(int in) {
  const int rows = (256 * 1024 / 4) / (in > 0 ? in : 1) / MT * MT;
  return rows > MT ? rows : MT;
}

void products_avx512(const float* W, int o0, int o1, int in, const float* x, int T, float* y, int ldy) {
  const int rc = row_chunk(in);
  // long rows in chunks of at most K_CHUNK inputs (equal sizes rounded up to 16, the last one shorter); the block's
  // accumulators wait in acc_mem between chunks
  const int chunks = in > K_CHUNK ? (in + K_CHUNK - 1) / K_CHUNK : 1,
            kc = chunks == 1 ? in : ((in + chunks - 1) / chunks + 15) / 16 * 16;
  alignas(64) __m512 acc_mem[TILE_OUT / MO][MT * MO];
  for (int t0 = 0; t0 < T; t0 += rc) {
    const int t1 = T - t0 < rc ? T : t0 + rc;
    for (int ot = o0; ot < o1; ot += TILE_OUT) {
      const int oe = o1 - ot < TILE_OUT ? o1 : ot + TILE_OUT;
      for (int t = t0; t < t1; t += MT) {
        const int nt = t1 - t < MT ? t1 - t : MT;
        int k0 = 0;
        do { // at least once: in == 0 still writes its zeros
          const int k1 = in - k0 <= kc ? in : k0 + kc;
          for (int o = ot; o < oe; o += MO) {
            const int no = oe - o < MO ? oe - o : MO;
            const float* w = W + (size_t)(o - o0) * in;
            // the first row block prefetches the weight rows after these (the next tile's first ones at its end)
            const float* pf = t == t0 && o + MO + MO <= o1 ? w + (size_t)MO * in : nullptr;
            pick_block(nt, no)(w, x + (size_t)t * in, in, k0, k1, acc_mem[(o - ot) / MO], y + (size_t)t * ldy + o, ldy,
                               pf);
          }
          k0 = k1;
        } while (k0 < in);
      }
    }
  }
}

// NF4 blocks to fp32: per block the 16 code values times its absmax (the products the fp32 tile holds), then per 16
// packed bytes the low and high nibbles looked up with 16-entry permutes (vpermps reads an index's low 4 bits) and
// interleaved into element order.
void dequant_avx512(const kern::Nf4View& w, size_t b0, size_t nb, float* out) {
  const __m512 table = _mm512_loadu_ps(w.code);
  const __m512i even = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0),
                odd = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  for (size_t b = 0; b < nb; b++) {
    const uint8_t* p = w.packed + (b0 + b) * 32;
    const __m512 vals = _mm512_mul_ps(table, _mm512_set1_ps(kern::nf4_view_absmax(w, b0 + b)));
    float* o = out + b * 64;
    for (int h = 0; h < 2; h++) {
      const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(p + 16 * h)));
      const __m512 lo = _mm512_permutexvar_ps(c, vals), hi = _mm512_permutexvar_ps(_mm512_srli_epi32(c, 4), vals);
      _mm512_storeu_ps(o + 32 * h, _mm512_permutex2var_ps(lo, even, hi));
      _mm512_storeu_ps(o + 32 * h + 16, _mm512_permutex2var_ps(lo, odd, hi));
    }
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
