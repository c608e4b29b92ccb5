// AVX512-VNNI bodies of decode/rows_int8 (built with the avx512 flags + -mavx512vnni; rows_int8.cc runs them under
// avx512 on a CPU with VNNI): each 32-input chunk's exact int8 dot with vpdpbusd (u8 x s8 into int32, no saturation)
// on the unsigned weights w + 128 and the signed inputs, less 128 * the chunk's input sum, then one FMA per chunk per
// output in chunk order: the scalar reference's numbers bit for bit. Few rows (the NF4 direct path, the lm_head below
// INTERLEAVE_MIN rows): 16 weight rows x 64 inputs (two chunks) per step, one vpdpbusd per weight row, then a
// transpose-reduce of the 16 rows' vectors to one vector of 16 outputs per chunk (NF4 codes become 64 levels with one
// vpshufb). More rows: each 16-row group is transposed once to 16 outputs x 4 consecutive inputs per 64-byte vector, so
// vpdpbusd with an input row's 4 bytes broadcast accumulates the 16 outputs' dots with no reduction (8 steps a chunk),
// each weight vector read by up to 8 input rows.
#include "decode/rows_variants.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#include <cstring>

namespace peft::decode {

namespace {

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

inline __m512i zext256(const void* p, bool half) { // 64 bytes, or 32 and zeros
  return half ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i*)p)) : _mm512_loadu_si512(p);
}

// Weight rows as int8 levels (row-major, chunk order) read as w + 128: 64 bytes = chunk j in 128-bit lanes 0, 1 and
// chunk j + 1 in lanes 2, 3; the input's 64 bytes as stored. half: the last chunk alone (the other lanes zero in x).
struct RowSrc {
  static constexpr bool NF4 = false;
  const int8_t* wq; // row 0
  int in;
  __m512i load(int r, int b, bool half) const {
    return _mm512_xor_si512(zext256(wq + (size_t)r * in + 64 * b, half), _mm512_set1_epi8((char)0x80));
  }
  static __m512i input(const int8_t* x, bool half) { return zext256(x, half); }
};

// NF4 rows looked up as levels + 128: a 64-weight block's 32 bytes B0 (chunk j), B1 (chunk j + 1) as
// [lo(B0), lo(B1), hi(B0), hi(B1)] (one vpshufb for the 64 codes): chunk j in lanes 0, 2, chunk j + 1 in lanes 1, 3;
// the input's chunk-order lanes [j even, j odd, j + 1 even, j + 1 odd] permuted to match.
struct Nf4Src {
  static constexpr bool NF4 = true;
  const uint8_t* packed; // row 0
  size_t row_bytes;
  __m512i tab, m;
  __m512i load(int r, int b, bool half) const {
    const uint8_t* p = packed + (size_t)r * row_bytes + 32 * b;
    const __m256i c = half ? _mm256_maskz_loadu_epi8(0xFFFF, p) : _mm256_loadu_si256((const __m256i*)p);
    const __m512i z = _mm512_broadcast_i64x4(c);                    // [B0 B1 B0 B1]
    const __m512i s = _mm512_mask_srli_epi16(z, 0xFFFF0000u, z, 4); // high nibbles in the upper half
    return _mm512_shuffle_epi8(tab, _mm512_and_si512(s, m));
  }
  static __m512i input(const int8_t* x, bool half) {
    const __m512i v = zext256(x, half);
    return _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
  }
};

// 16 rows' vectors of 16 int32 (v[r]) to two vectors of the 16 rows' sums: a over the 128-bit lanes of chunk j, c of
// chunk j + 1 (lanes 0+2 / 1+3 for NF4, 0+1 / 2+3 for int8 rows), output r in lane r.
template <bool NF4>
inline void reduce16(const __m512i* v, __m512i& a, __m512i& c) {
  __m512i t[8], u[4];
  for (int i = 0; i < 8; i++)
    t[i] =
        _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; i++) // u[i]: rows 4i..4i+3 in each 128-bit lane, each the sum of that row's lane
    u[i] =
        _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]), _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
  constexpr int P = NF4 ? 0x44 : 0x88, Q = NF4 ? 0xEE : 0xDD; // each group of 4 rows: [j, j + 1] x 2
  const __m512i w01 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], P), _mm512_shuffle_i32x4(u[0], u[1], Q));
  const __m512i w23 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], P), _mm512_shuffle_i32x4(u[2], u[3], Q));
  a = _mm512_shuffle_i32x4(w01, w23, 0x88);
  c = _mm512_shuffle_i32x4(w01, w23, 0xDD);
}

// Outputs [o0, o1) (the source's rows 0..) for each input row: per 16 outputs and 64 inputs, one vpdpbusd per output
// into its own vector, reduced to the two chunks' dots of the 16 outputs.
template <class Src>
void reduced(const Src& src, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx,
             const int32_t* sx, int T, float* y, int ldy) {
  const int nc = in / 32, nb = (nc + 1) / 2;
  for (int o = o0; o < o1; o += 16) {
    const int nv = imin(16, o1 - o);
    const float* dwg = dw + (size_t)((o - o0) / 8) * nc * 8;
    int row[16]; // the outputs past the last real one repeat it (not stored)
    for (int r = 0; r < 16; r++) row[r] = o - o0 + imin(r, nv - 1);
    for (int t = 0; t < T; t++) {
      const int8_t* x = xq + (size_t)t * in;
      const float* dxt = dx + (size_t)t * nc;
      const int32_t* sxt = sx + (size_t)t * nc;
      __m512 s = _mm512_setzero_ps();
      for (int b = 0; b < nb; b++) {
        const bool half = 2 * b + 1 == nc;
        const __m512i xv = Src::input(x + 64 * b, half);
        __m512i v[16];
        for (int r = 0; r < 16; r++) v[r] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), src.load(row[r], b, half), xv);
        __m512i a, c;
        reduce16<Src::NF4>(v, a, c);
        s = chunk_fma(s, a, scales16(dwg, nc, 2 * b, nv), dxt[2 * b], sxt[2 * b]);
        if (!half) s = chunk_fma(s, c, scales16(dwg, nc, 2 * b + 1, nv), dxt[2 * b + 1], sxt[2 * b + 1]);
      }
      store16(y + (size_t)t * ldy + o, s, nv);
    }
  }
}

// Chunks [j0, j0 + n) of 16 int8 rows (wq + row[r] * in) as w + 128, 16 outputs x 4 consecutive inputs per 64 bytes:
// chunk j0 + c's inputs 4k..4k+3 (chunk order) at g + (c * 8 + k) * 64, output r in bytes 4r..4r+3. A 16 x 8
// int32 transpose per chunk in three vpermt2d stages, each swapping a bit of the register number with one of the lane.
void interleave(const int8_t* wq, int in, const int* row, int j0, int n, uint8_t* g) {
  alignas(64) static const int32_t idx[3][2][16] = {{{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
                                                     {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
                                                    {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
                                                     {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
                                                    {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
                                                     {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}}};
  __m512i lo[3], hi[3];
  for (int s = 0; s < 3; s++) {
    lo[s] = _mm512_load_si512(idx[s][0]);
    hi[s] = _mm512_load_si512(idx[s][1]);
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

// 16 packed bytes (32 NF4 codes) -> 32 int8 levels, low nibbles first (the chunk order).
inline __m256i levels32(const uint8_t* p, __m256i tab, __m256i m) {
  const __m128i b = _mm_loadu_si128((const __m128i*)p);
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
  return _mm256_shuffle_epi8(tab, _mm256_and_si256(v, m));
}

void decode(const kern::Nf4View& w, const int8_t* levels, int o0, int rows, int8_t* wq, float* dw) {
  const int in = w.cols, nc = in / 32;
  const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)levels));
  const __m256i m = _mm256_set1_epi8(0x0F);
  const int padded = (rows + 7) / 8 * 8;
  for (int r = 0; r < padded; r++) {
    const int src = r < rows ? r : rows - 1; // the last group's pad rows repeat its last row's scales
    float* d = dw + (size_t)(r / 8) * nc * 8 + r % 8;
    for (int j = 0; j < nc; j++) {
      const size_t g = (size_t)(o0 + src) * in + 32 * j; // a multiple of 32: the chunk lies in one 64-weight block
      d[(size_t)j * 8] = kern::nf4_view_absmax(w, g / 64) * (1.f / 127.f);
      if (wq && r < rows)
        _mm256_storeu_si256((__m256i*)(wq + (size_t)r * in + 32 * j), levels32(w.packed + g / 2, tab, m));
    }
  }
}

} // namespace

const RowsInt8Kernels rows_int8_kernels_avx512vnni{products, decode, products_nf4};

} // namespace peft::decode
#else
namespace peft::decode {
const RowsInt8Kernels rows_int8_kernels_avx512vnni{nullptr, nullptr, nullptr};
} // namespace peft::decode
#endif
