// AVX512-VNNI bodies of decode/rows_int8 (built with the avx512 flags + -mavx512vnni; rows_int8.cc runs them under
// avx512 on a CPU with VNNI): each 32-input chunk's exact int8 dot with vpdpbusd (u8 x s8 into int32, no saturation)
// on the unsigned weights w + 128 and the signed inputs, less 128 * the chunk's input sum, then one FMA per chunk per
// output in chunk order: the scalar reference's numbers bit for bit. Few rows (the NF4 direct path, the lm_head below
// INTERLEAVE_MIN rows): 16 weight rows x 64 inputs (two chunks) per step, one vpdpbusd per weight row, the 16 rows'
// vectors reduced as they come to one vector of 16 outputs per chunk (NF4 codes become 64 levels with one vpshufb).
// More rows: each 16-row group is transposed once to 16 outputs x 4 consecutive inputs per 64-byte vector, so
// vpdpbusd with an input row's 4 bytes broadcast accumulates the 16 outputs' dots with no reduction (8 steps a chunk),
// each weight vector read by up to 8 input rows. The tile scales (8 rows x 16 blocks a vector) and the input
// quantiser (32 values a vector, with the chunk sums) are vectorised too, the same numbers as their scalar forms.
#include "decode/rows_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#include <cstring>

namespace peft::decode {

namespace {

#include "decode/rows_int8_levels.inc"

constexpr int INTERLEAVE_MIN = 4; // from this many input rows, products transpose each 16-row group (no reductions)
constexpr int PANEL = 64;         // chunks per transposed panel (16 rows x 2048 inputs: 32 KiB on the stack)

inline int imin(int a, int b) { return a < b ? a : b; }

// The 16 outputs' weight scales of chunk j (dwg: the by-8 scales of their first group; the second group only where
// there are more than 8 real outputs, else the first again: those lanes are never stored).
inline __m512 scales16(const float* dwg, int nc, int j, int nv) {
  const __m256 a = _mm256_loadu_ps(dwg + (size_t)j * 8);
  const __m256 b = nv > 8 ? _mm256_loadu_ps(dwg + ((size_t)nc + j) * 8) : a;
  return _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1);
}

// s + (float)(d - 128 sx) * (scales * dx): one chunk's step of the 16 outputs' sums (d: the dots of w + 128).
inline __m512 chunk_fma(__m512 s, __m512i d, __m512 sc, float dx, int32_t sx) {
  const __m512i e = _mm512_sub_epi32(d, _mm512_set1_epi32(128 * sx));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(e), _mm512_mul_ps(sc, _mm512_set1_ps(dx)), s);
}

inline void store16(float* y, __m512 s, int nv) {
  if (nv == 16)
    _mm512_storeu_ps(y, s);
  else
    _mm512_mask_storeu_ps(y, (__mmask16)((1u << nv) - 1), s);
}

// Weight rows as int8 levels (row-major, chunk order) read as w + 128: a block of 64 bytes = chunk j in 128-bit lanes
// 0, 1 and chunk j + 1 in lanes 2, 3; the input's 64 bytes as stored. HALF: the last chunk alone (the others zero).
struct RowSrc {
  static constexpr bool NF4 = false;
  static constexpr int BLOCK = 64; // bytes per 64 inputs
  const int8_t* wq;                // row 0
  int in;
  const void* row(int r) const { return wq + (size_t)r * in; }
  template <bool HALF>
  static __m512i load(const void* p) {
    return _mm512_xor_si512(
        HALF ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i*)p)) : _mm512_loadu_si512(p),
        _mm512_set1_epi8((char)0x80));
  }
  template <bool HALF>
  static __m512i input(const int8_t* x) {
    return HALF ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i*)x)) : _mm512_loadu_si512(x);
  }
};

// NF4 rows looked up as levels + 128: a 64-weight block's 32 bytes B0 (chunk j), B1 (chunk j + 1) as
// [lo(B0), lo(B1), hi(B0), hi(B1)] (one vpshufb for the 64 codes): chunk j in lanes 0, 2, chunk j + 1 in lanes 1, 3;
// the input's chunk-order lanes [j even, j odd, j + 1 even, j + 1 odd] permuted to match.
struct Nf4Src {
  static constexpr bool NF4 = true;
  static constexpr int BLOCK = 32;
  const uint8_t* packed; // row 0
  size_t row_bytes;
  __m512i tab, m;
  const void* row(int r) const { return packed + (size_t)r * row_bytes; }
  template <bool HALF>
  __m512i load(const void* p) const {
    const __m512i z = HALF ? _mm512_broadcast_i64x4(_mm256_maskz_loadu_epi8(0xFFFF, p))
                           : _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)p)); // [B0 B1 B0 B1]
    const __m512i s = _mm512_mask_srli_epi16(z, 0xFFFF0000u, z, 4); // high nibbles in the upper half
    return _mm512_shuffle_epi8(tab, _mm512_and_si512(s, m));
  }
  template <bool HALF>
  static __m512i input(const int8_t* x) {
    const __m512i v = HALF ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i*)x)) : _mm512_loadu_si512(x);
    return _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
  }
};

// One 64-input block (b) of 16 rows (rp[r] their first bytes) with the input xv: per row one vpdpbusd into its own
// vector, the 16 vectors reduced as they come (pairs of rows, then fours) to a: the 16 rows' dots of chunk 2b (lanes
// 0+2 of each row for NF4, 0+1 for int8 rows), c: of chunk 2b + 1; output r in lane r.
template <bool HALF, class Src>
inline void block16(const Src& src, const uint8_t* const* rp, int b, __m512i xv, __m512i& a, __m512i& c) {
  const auto dot = [&](int r) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), src.template load<HALF>(rp[r] + (size_t)b * Src::BLOCK), xv);
  };
  const auto pair = [&](int r) { // per 128-bit lane [r 0+2, r+1 0+2, r 1+3, r+1 1+3]
    const __m512i p = dot(r), q = dot(r + 1);
    return _mm512_add_epi32(_mm512_unpacklo_epi32(p, q), _mm512_unpackhi_epi32(p, q));
  };
  const auto quad = [&](int r) { // rows r..r+3 in each 128-bit lane, each the sum of that row's lane
    const __m512i p = pair(r), q = pair(r + 2);
    return _mm512_add_epi32(_mm512_unpacklo_epi64(p, q), _mm512_unpackhi_epi64(p, q));
  };
  constexpr int P = Src::NF4 ? 0x44 : 0x88, Q = Src::NF4 ? 0xEE : 0xDD; // each group of 4 rows: [j, j + 1] x 2
  const __m512i u0 = quad(0), u1 = quad(4);
  const __m512i w01 = _mm512_add_epi32(_mm512_shuffle_i32x4(u0, u1, P), _mm512_shuffle_i32x4(u0, u1, Q));
  const __m512i u2 = quad(8), u3 = quad(12);
  const __m512i w23 = _mm512_add_epi32(_mm512_shuffle_i32x4(u2, u3, P), _mm512_shuffle_i32x4(u2, u3, Q));
  a = _mm512_shuffle_i32x4(w01, w23, 0x88);
  c = _mm512_shuffle_i32x4(w01, w23, 0xDD);
}

// Outputs [o0, o1) (the source's rows 0..) for each input row: per 16 outputs and 64 inputs, block16's two chunks'
// dots of the 16 outputs, then their FMAs in chunk order.
template <class Src>
void reduced(const Src& src, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx,
             const int32_t* sx, int T, float* y, int ldy) {
  const int nc = in / 32, full = nc / 2;
  for (int o = o0; o < o1; o += 16) {
    const int nv = imin(16, o1 - o);
    const float* dwg = dw + (size_t)((o - o0) / 8) * nc * 8;
    const uint8_t* rp[16]; // the outputs past the last real one repeat it (not stored)
    for (int r = 0; r < 16; r++) rp[r] = (const uint8_t*)src.row(o - o0 + imin(r, nv - 1));
    for (int t = 0; t < T; t++) {
      const int8_t* x = xq + (size_t)t * in;
      const float* dxt = dx + (size_t)t * nc;
      const int32_t* sxt = sx + (size_t)t * nc;
      __m512 s = _mm512_setzero_ps();
      __m512i a, c;
      for (int b = 0; b < full; b++) {
        block16<false>(src, rp, b, Src::template input<false>(x + 64 * b), a, c);
        s = chunk_fma(s, a, scales16(dwg, nc, 2 * b, nv), dxt[2 * b], sxt[2 * b]);
        s = chunk_fma(s, c, scales16(dwg, nc, 2 * b + 1, nv), dxt[2 * b + 1], sxt[2 * b + 1]);
      }
      if (nc % 2) {
        block16<true>(src, rp, full, Src::template input<true>(x + 64 * full), a, c);
        s = chunk_fma(s, a, scales16(dwg, nc, nc - 1, nv), dxt[nc - 1], sxt[nc - 1]);
      }
      store16(y + (size_t)t * ldy + o, s, nv);
    }
  }
}

// The vpermt2d / vpermt2ps indices of a transpose stage s: the pair (a, b) of registers whose numbers differ in bit s
// swap that bit with bit s of the lane number (lo: the new a, hi: the new b).
alignas(64) const int32_t SWAP[3][2][16] = {{{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
                                             {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
                                            {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
                                             {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
                                            {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
                                             {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}}};

// Chunks [j0, j0 + n) of 16 int8 rows (wq + row[r] * in) as w + 128, 16 outputs x 4 consecutive inputs per 64 bytes:
// chunk j0 + c's inputs 4k..4k+3 (chunk order) at g + (c * 8 + k) * 64, output r in bytes 4r..4r+3. A 16 x 8
// int32 transpose per chunk in three vpermt2d stages, each swapping a bit of the register number with one of the lane.
void interleave(const int8_t* wq, int in, const int* row, int j0, int n, uint8_t* g) {
  __m512i lo[3], hi[3];
  for (int s = 0; s < 3; s++) {
    lo[s] = _mm512_load_si512(SWAP[s][0]);
    hi[s] = _mm512_load_si512(SWAP[s][1]);
  }
  const __m512i off = _mm512_set1_epi8((char)0x80);
  for (int c = 0; c < n; c++) {
    const size_t col = 32 * (size_t)(j0 + c);
    __m512i z[8]; // z[i]: row i's 8 int32 in lanes 0..7, row i + 8's in lanes 8..15
    for (int i = 0; i < 8; i++)
      z[i] = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(wq + row[i] * (size_t)in + col))),
          _mm256_loadu_si256((const __m256i*)(wq + row[i + 8] * (size_t)in + col)), 1);
    for (int s = 0; s < 3; s++) {
      const int bit = 1 << s;
      for (int i = 0; i < 8; i++) {
        if (i & bit) continue;
        const __m512i a = z[i], b = z[i | bit];
        z[i] = _mm512_permutex2var_epi32(a, lo[s], b);
        z[i | bit] = _mm512_permutex2var_epi32(a, hi[s], b);
      }
    }
    for (int k = 0; k < 8; k++) _mm512_store_si512(g + ((size_t)c * 8 + k) * 64, _mm512_xor_si512(z[k], off));
  }
}

inline int32_t word(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// MT input rows from t0 x the 16 outputs of an interleaved panel (chunks [j0, j0 + n)): per chunk 8 vpdpbusd per row,
// started at -128 * sx, then one FMA. first: the sums start at zero, else they continue from y.
template <int MT>
inline void steps(const uint8_t* g, const float* dwg, int nc, int nv, int j0, int n, bool first, const int8_t* xq,
                  int in, const float* dx, const int32_t* sx, int t0, float* y, int ldy) {
  const __mmask16 mv = (__mmask16)((1u << nv) - 1);
  __m512 s[MT];
  for (int i = 0; i < MT; i++)
    s[i] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mv, y + (size_t)(t0 + i) * ldy);
  for (int c = 0; c < n; c++) {
    const int j = j0 + c;
    __m512i acc[MT];
    for (int i = 0; i < MT; i++) acc[i] = _mm512_set1_epi32(-128 * sx[(size_t)(t0 + i) * nc + j]);
    for (int k = 0; k < 8; k++) {
      const __m512i w = _mm512_load_si512(g + ((size_t)c * 8 + k) * 64);
      for (int i = 0; i < MT; i++)
        acc[i] = _mm512_dpbusd_epi32(acc[i], w, _mm512_set1_epi32(word(xq + (size_t)(t0 + i) * in + 32 * j + 4 * k)));
    }
    const __m512 sc = scales16(dwg, nc, j, nv);
    for (int i = 0; i < MT; i++)
      s[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i]),
                             _mm512_mul_ps(sc, _mm512_set1_ps(dx[(size_t)(t0 + i) * nc + j])), s[i]);
  }
  for (int i = 0; i < MT; i++) store16(y + (size_t)(t0 + i) * ldy, s[i], nv);
}

void interleaved(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx,
                 const int32_t* sx, int T, float* y, int ldy) {
  const int nc = in / 32;
  alignas(64) uint8_t g[PANEL * 8 * 64];
  for (int o = o0; o < o1; o += 16) {
    const int nv = imin(16, o1 - o);
    const float* dwg = dw + (size_t)((o - o0) / 8) * nc * 8;
    int row[16];
    for (int r = 0; r < 16; r++) row[r] = o - o0 + imin(r, nv - 1);
    for (int j0 = 0; j0 < nc; j0 += PANEL) {
      const int n = imin(PANEL, nc - j0);
      interleave(wq, in, row, j0, n, g);
      int t = 0;
      for (; t + 8 <= T; t += 8) steps<8>(g, dwg, nc, nv, j0, n, j0 == 0, xq, in, dx, sx, t, y + o, ldy);
      switch (T - t) {
        case 7: steps<7>(g, dwg, nc, nv, j0, n, j0 == 0, xq, in, dx, sx, t, y + o, ldy); break;
        case 6: steps<6>(g, dwg, nc, nv, j0, n, j0 == 0, xq, in, dx, sx, t, y + o, ldy); break;
        case 5: steps<5>(g, dwg, nc, nv, j0, n, j0 == 0, xq, in, dx, sx, t, y + o, ldy); break;
        case 4: steps<4>(g, dwg, nc, nv, j0, n, j0 == 0, xq, in, dx, sx, t, y + o, ldy); break;
        case 3: steps<3>(g, dwg, nc, nv, j0, n, j0 == 0, xq, in, dx, sx, t, y + o, ldy); break;
        case 2: steps<2>(g, dwg, nc, nv, j0, n, j0 == 0, xq, in, dx, sx, t, y + o, ldy); break;
        case 1: steps<1>(g, dwg, nc, nv, j0, n, j0 == 0, xq, in, dx, sx, t, y + o, ldy); break;
        default: break;
      }
    }
  }
}

void products(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx,
              const int32_t* sx, int T, float* y, int ldy) {
  if (T >= INTERLEAVE_MIN)
    interleaved(wq, dw, o0, o1, in, xq, dx, sx, T, y, ldy);
  else
    reduced(RowSrc{wq, in}, dw, o0, o1, in, xq, dx, sx, T, y, ldy);
}

void products_nf4(const kern::Nf4View& w, const int8_t* levels, const float* dw, int o0, int o1, const int8_t* xq,
                  const float* dx, const int32_t* sx, int T, float* y, int ldy) {
  const int in = w.cols;
  const __m512i tab = _mm512_broadcast_i32x4(
      _mm_xor_si128(_mm_loadu_si128((const __m128i*)levels), _mm_set1_epi8((char)0x80))); // levels + 128 as u8
  reduced(Nf4Src{w.packed + (size_t)o0 * in / 2, (size_t)in / 2, tab, _mm512_set1_epi8(0x0F)}, dw, o0, o1, in, xq, dx,
          sx, T, y, ldy);
}

// 16 blocks' nf4_view_absmax(w, b0 + lane) * (1 / 127) (lanes from nb on: not read), with its operations: the
// absmax_scale of 16 blocks is at most two values.
inline __m512 absmax16(const kern::Nf4View& w, size_t b0, int nb) {
  const __m512 q =
      _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8((__mmask16)((1u << nb) - 1), w.absmax_q + b0)));
  const size_t s0 = b0 / 256, s1 = (b0 + nb - 1) / 256;
  const __mmask16 later = s1 == s0 ? 0 : (__mmask16)(~0u << (int)(s1 * 256 - b0));
  const __m512 sc = _mm512_mask_blend_ps(later, _mm512_set1_ps(w.absmax_scale[s0]), _mm512_set1_ps(w.absmax_scale[s1]));
  const __m512 a = _mm512_max_ps(_mm512_add_ps(_mm512_set1_ps(w.absmax_offset), _mm512_mul_ps(q, sc)),
                                 _mm512_setzero_ps()); // a > 0 ? a : 0
  return _mm512_mul_ps(a, _mm512_set1_ps(1.f / 127.f));
}

// The scales of rows [o0, o0 + rows) by groups of 8 (the last padded with its last row's). in % 64 == 0: per group
// and 16 blocks, the 8 rows' values transposed (three vpermt2ps stages) to one vector of 8 rows per block, stored
// for the block's two chunks; else per row, each block's value to its chunks one at a time.
void scales(const kern::Nf4View& w, int o0, int rows, float* dw) {
  const int in = w.cols, nc = in / 32;
  const int padded = (rows + 7) / 8 * 8;
  if (in % 64 == 0) {
    const int nbr = in / 64; // blocks per row
    __m512i lo[3], hi[3];
    for (int s = 0; s < 3; s++) {
      lo[s] = _mm512_load_si512(SWAP[s][0]);
      hi[s] = _mm512_load_si512(SWAP[s][1]);
    }
    for (int g = 0; g < padded / 8; g++) {
      float* d = dw + (size_t)g * nc * 8;
      for (int i0 = 0; i0 < nbr; i0 += 16) {
        const int nb = imin(16, nbr - i0);
        __m512 z[8]; // z[r]: row 8g + r's blocks i0.. in its lanes
        for (int r = 0; r < 8; r++) z[r] = absmax16(w, (size_t)(o0 + imin(8 * g + r, rows - 1)) * nbr + i0, nb);
        for (int s = 0; s < 3; s++) {
          const int bit = 1 << s;
          for (int i = 0; i < 8; i++) {
            if (i & bit) continue;
            const __m512 a = z[i], b = z[i | bit];
            z[i] = _mm512_permutex2var_ps(a, lo[s], b);
            z[i | bit] = _mm512_permutex2var_ps(a, hi[s], b);
          }
        }
        for (int i = 0; i < nb; i++) { // z[i % 8]: block i0 + i's 8 rows in lanes 8 (i / 8) ..
          const __m256 v = i < 8 ? _mm512_castps512_ps256(z[i]) : _mm512_extractf32x8_ps(z[i - 8], 1);
          _mm256_storeu_ps(d + (size_t)(2 * (i0 + i)) * 8, v);
          _mm256_storeu_ps(d + (size_t)(2 * (i0 + i) + 1) * 8, v);
        }
      }
    }
    return;
  }
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  alignas(64) float v[16];
  for (int r = 0; r < padded; r++) {
    const int src = r < rows ? r : rows - 1;
    float* d = dw + (size_t)(r / 8) * nc * 8 + r % 8;
    for (int j0 = 0; j0 < nc; j0 += 16) {
      const size_t c0 = (size_t)(o0 + src) * nc + j0, b0 = c0 / 2; // the first chunk's global index, its block
      const int n = imin(16, nc - j0);
      const __m512 a = absmax16(w, b0, (int)((c0 + n - 1) / 2 - b0 + 1));
      const __m512i blk = _mm512_srli_epi32(_mm512_add_epi32(_mm512_set1_epi32((int)(c0 & 1)), iota), 1);
      _mm512_store_ps(v, _mm512_permutexvar_ps(blk, a));
      for (int c = 0; c < n; c++) d[(size_t)(j0 + c) * 8] = v[c];
    }
  }
}

void decode(const kern::Nf4View& w, const int8_t* levels, int o0, int rows, int8_t* wq, float* dw) {
  scales(w, o0, rows, dw);
  if (wq) levels_rows(w, levels, o0, rows, wq);
}

// quantize_q8's operations 32 values at a time (rows_int8.cc: the reference): the absmax (a NaN never taken, as
// std::max(amax, |x|)), the scales in scalar, the rounding in the current mode (roundss $0xc there), the clamp as
// min(127, max(-127, v)) (a NaN to -127), the even values then the odd ones; with each chunk's sum of q.
void quantize(const float* x, size_t n, int8_t* q, float* d, int32_t* sums) {
  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 lo = _mm512_set1_ps(-127.f), hi = _mm512_set1_ps(127.f);
  for (size_t c = 0; c < n / 32; c++) {
    const __m512 a = _mm512_loadu_ps(x + c * 32), b = _mm512_loadu_ps(x + c * 32 + 16);
    const __m512 m = _mm512_max_ps(_mm512_abs_ps(b), _mm512_max_ps(_mm512_abs_ps(a), _mm512_setzero_ps()));
    const float amax = _mm512_reduce_max_ps(m);
    d[c] = amax / 127.f;
    const __m512 id = _mm512_set1_ps(amax > 0.f ? 127.f / amax : 0.f);
    const __m512 xa = _mm512_mul_ps(a, id), xb = _mm512_mul_ps(b, id);
    const auto level = [&](__m512i idx) {
      const __m512 v =
          _mm512_roundscale_ps(_mm512_permutex2var_ps(xa, idx, xb), _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC);
      return _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi));
    };
    const __m512i qe = level(ev), qo = level(od);
    _mm_storeu_si128((__m128i*)(q + c * 32), _mm512_cvtepi32_epi8(qe));
    _mm_storeu_si128((__m128i*)(q + c * 32 + 16), _mm512_cvtepi32_epi8(qo));
    sums[c] = _mm512_reduce_add_epi32(_mm512_add_epi32(qe, qo));
  }
}

} // namespace

const RowsInt8Kernels rows_int8_kernels_avx512vnni{products, decode, products_nf4, quantize};

} // namespace peft::decode
#else
namespace peft::decode {
const RowsInt8Kernels rows_int8_kernels_avx512vnni{nullptr, nullptr, nullptr, nullptr};
} // namespace peft::decode
#endif
