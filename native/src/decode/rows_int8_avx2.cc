// AVX2 bodies of decode/rows_int8 (built with -mavx2 -mfma -mf16c -mno-avx512f): each 32-input chunk's int8 dot with
// vpmaddubsw on |w| and sign(x, w) (|w|, |x| <= 127: a pair sum stays below 2^15, no saturation) then vpmaddwd, the
// exact dots of 8 outputs in one vector and accumulated with one FMA per chunk: the summation order of
// rows_variants.h, the scalar reference's numbers bit for bit. Few rows (T < INTERLEAVE_MIN: the NF4 direct path, the
// lm_head at T = 1): a 2-row x 8-output register block reuses each weight and input load, each output's 8 int32 lanes
// reduced with hadd per chunk; NF4 codes become int8 levels with one vpshufb per 32 (a chunk's low nibbles, then its
// high ones: the chunk order). More rows: each 8-row group is transposed once per panel to 8 outputs x 4 consecutive
// inputs per vector (w and |w| side by side), so an input row's 4 bytes broadcast give the 8 outputs' pair sums with
// no reduction (8 steps a chunk), each weight vector read by 4 input rows at a time. The tile scales (8 rows x 8
// blocks, transposed) and the input quantiser (32 values at a time, with the chunk sums) are vectorised too, the same
// numbers as their scalar forms.
#include "decode/rows_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include <cstring>

namespace peft::decode {

namespace {

#include "decode/rows_int8_levels.inc"

constexpr int INTERLEAVE_MIN = 4; // from this many input rows, products transpose each 8-row group (no reductions)
constexpr int PANEL = 64;         // chunks per transposed panel (8 rows x 2048 inputs, w and |w|: 32 KiB on the stack)

inline int imin(int a, int b) { return a < b ? a : b; }

struct TileW { // a decoded tile: rows of `in` int8 levels
  const int8_t* wq;
  int in;
  __m256i load(int j, int c) const { return _mm256_loadu_si256((const __m256i*)(wq + (size_t)j * in + 32 * c)); }
};

struct Nf4W {            // NF4 codes looked up in registers
  const uint8_t* packed; // row o's first byte
  size_t row_bytes;
  __m256i tab, m;
  __m256i load(int j, int c) const { return levels32(packed + (size_t)j * row_bytes + 16 * c, tab, m); }
};

// MT rows x the 8 outputs of one scale group (nv of them real; the others repeat the last real row and are not
// stored): per chunk each output's 8 int32 lanes reduced to its exact chunk dot, the 8 dots side by side in one
// vector (hadd twice, then the two 128-bit halves added), then one FMA for the 8 outputs.
template <int MT, class W>
inline void block(const W& src, int nv, const float* dwg, int in, const int8_t* xq, const float* dx, int t0, int o,
                  float* y, int ldy) {
  const int nc = in / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  int row[8];
  for (int j = 0; j < 8; j++) row[j] = j < nv ? j : nv - 1;
  __m256 acc[MT];
  for (int i = 0; i < MT; i++) acc[i] = _mm256_setzero_ps();
  for (int c = 0; c < nc; c++) {
    __m256i xv[MT], h[MT][4];
    for (int i = 0; i < MT; i++) xv[i] = _mm256_loadu_si256((const __m256i*)(xq + (size_t)(t0 + i) * in + 32 * c));
    for (int q = 0; q < 4; q++) {
      const __m256i wa = src.load(row[2 * q], c), wb = src.load(row[2 * q + 1], c);
      const __m256i aa = _mm256_abs_epi8(wa), ab = _mm256_abs_epi8(wb);
      for (int i = 0; i < MT; i++) {
        const __m256i pa = _mm256_madd_epi16(_mm256_maddubs_epi16(aa, _mm256_sign_epi8(xv[i], wa)), ones);
        const __m256i pb = _mm256_madd_epi16(_mm256_maddubs_epi16(ab, _mm256_sign_epi8(xv[i], wb)), ones);
        h[i][q] = _mm256_hadd_epi32(pa, pb);
      }
    }
    const __m256 cw = _mm256_loadu_ps(dwg + (size_t)c * 8);
    for (int i = 0; i < MT; i++) {
      const __m256i h0 = _mm256_hadd_epi32(h[i][0], h[i][1]), h1 = _mm256_hadd_epi32(h[i][2], h[i][3]);
      const __m256i d =
          _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
      const __m256 cx = _mm256_broadcast_ss(dx + (size_t)(t0 + i) * nc + c);
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(cw, cx), acc[i]);
    }
  }
  for (int i = 0; i < MT; i++) {
    float* yr = y + (size_t)(t0 + i) * ldy + o;
    if (nv == 8) {
      _mm256_storeu_ps(yr, acc[i]);
    } else {
      alignas(32) float v[8];
      _mm256_store_ps(v, acc[i]);
      for (int j = 0; j < nv; j++) yr[j] = v[j];
    }
  }
}

// Outputs [o0, o1) in groups of 8; at(o) is the weight source positioned at output o.
template <class At>
inline void outputs(const At& at, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx, int T,
                    float* y, int ldy) {
  const int nc = in / 32;
  for (int o = o0; o < o1; o += 8) {
    const int nv = o1 - o < 8 ? o1 - o : 8;
    const float* dwg = dw + (size_t)((o - o0) / 8) * nc * 8;
    const auto src = at(o);
    int t = 0;
    for (; t + 2 <= T; t += 2) block<2>(src, nv, dwg, in, xq, dx, t, o, y, ldy);
    if (t < T) block<1>(src, nv, dwg, in, xq, dx, t, o, y, ldy);
  }
}

// An 8 x 8 int32 transpose: z[k] lane r = z[r] lane k on return.
inline void transpose8(__m256i* z) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(z[i], z[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(z[i], z[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; i++) {
    z[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
    z[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
  }
}

// Chunks [j0, j0 + n) of 8 int8 rows (wq + row[r] * in) as 8 outputs x 4 consecutive inputs per 32 bytes: chunk
// j0 + c's inputs 4k..4k+3 (chunk order) of output r in bytes 4r..4r+3 of g + (c * 8 + k) * 64, their absolute
// values 32 bytes further.
void interleave(const int8_t* wq, int in, const int* row, int j0, int n, int8_t* g) {
  for (int c = 0; c < n; c++) {
    const size_t col = 32 * (size_t)(j0 + c);
    __m256i z[8];
    for (int r = 0; r < 8; r++) z[r] = _mm256_loadu_si256((const __m256i*)(wq + row[r] * (size_t)in + col));
    transpose8(z);
    for (int k = 0; k < 8; k++) {
      int8_t* p = g + ((size_t)c * 8 + k) * 64;
      _mm256_store_si256((__m256i*)p, z[k]);
      _mm256_store_si256((__m256i*)(p + 32), _mm256_abs_epi8(z[k]));
    }
  }
}

inline int32_t word(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline __m256i lanes_below(int nv) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(nv), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// MT input rows from t0 x the 8 outputs of an interleaved panel (chunks [j0, j0 + n)): per chunk 8 steps per row
// (the row's 4 bytes broadcast, vpsignb with w, vpmaddubsw with |w|, vpmaddwd with ones, added), then one FMA.
// first: the sums start at zero, else they continue from y.
template <int MT>
inline void steps(const int8_t* g, const float* dwg, int nc, int nv, int j0, int n, bool first, const int8_t* xq,
                  int in, const float* dx, int t0, float* y, int ldy) {
  const __m256i ones = _mm256_set1_epi16(1), mv = lanes_below(nv);
  __m256 s[MT];
  for (int i = 0; i < MT; i++) s[i] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + (size_t)(t0 + i) * ldy, mv);
  for (int c = 0; c < n; c++) {
    const int j = j0 + c;
    __m256i acc[MT];
    for (int i = 0; i < MT; i++) acc[i] = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
      const int8_t* p = g + ((size_t)c * 8 + k) * 64;
      const __m256i w = _mm256_load_si256((const __m256i*)p), aw = _mm256_load_si256((const __m256i*)(p + 32));
      for (int i = 0; i < MT; i++) {
        const __m256i xv = _mm256_set1_epi32(word(xq + (size_t)(t0 + i) * in + 32 * j + 4 * k));
        acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, w)), ones));
      }
    }
    const __m256 cw = _mm256_loadu_ps(dwg + (size_t)j * 8);
    for (int i = 0; i < MT; i++)
      s[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i]),
                             _mm256_mul_ps(cw, _mm256_broadcast_ss(dx + (size_t)(t0 + i) * nc + j)), s[i]);
  }
  for (int i = 0; i < MT; i++) {
    float* yr = y + (size_t)(t0 + i) * ldy;
    if (nv == 8)
      _mm256_storeu_ps(yr, s[i]);
    else
      _mm256_maskstore_ps(yr, mv, s[i]);
  }
}

void interleaved(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx, int T,
                 float* y, int ldy) {
  const int nc = in / 32;
  alignas(32) int8_t g[PANEL * 8 * 64];
  for (int o = o0; o < o1; o += 8) {
    const int nv = imin(8, o1 - o);
    const float* dwg = dw + (size_t)((o - o0) / 8) * nc * 8;
    int row[8]; // the outputs past the last real one repeat it (not stored)
    for (int r = 0; r < 8; r++) row[r] = o - o0 + imin(r, nv - 1);
    for (int j0 = 0; j0 < nc; j0 += PANEL) {
      const int n = imin(PANEL, nc - j0);
      const bool first = j0 == 0;
      interleave(wq, in, row, j0, n, g);
      int t = 0;
      for (; t + 4 <= T; t += 4) steps<4>(g, dwg, nc, nv, j0, n, first, xq, in, dx, t, y + o, ldy);
      switch (T - t) {
        case 3: steps<3>(g, dwg, nc, nv, j0, n, first, xq, in, dx, t, y + o, ldy); break;
        case 2: steps<2>(g, dwg, nc, nv, j0, n, first, xq, in, dx, t, y + o, ldy); break;
        case 1: steps<1>(g, dwg, nc, nv, j0, n, first, xq, in, dx, t, y + o, ldy); break;
        default: break;
      }
    }
  }
}

void products(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx,
              const int32_t*, int T, float* y, int ldy) {
  if (T >= INTERLEAVE_MIN)
    interleaved(wq, dw, o0, o1, in, xq, dx, T, y, ldy);
  else
    outputs([&](int o) { return TileW{wq + (size_t)(o - o0) * in, in}; }, dw, o0, o1, in, xq, dx, T, y, ldy);
}

void products_nf4(const kern::Nf4View& w, const int8_t* levels, const float* dw, int o0, int o1, const int8_t* xq,
                  const float* dx, const int32_t*, int T, float* y, int ldy) {
  const int in = w.cols;
  const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)levels));
  const __m256i m = _mm256_set1_epi8(0x0F);
  outputs(
      [&](int o) {
        return Nf4W{w.packed + (size_t)o * in / 2, (size_t)in / 2, tab, m};
      },
      dw, o0, o1, in, xq, dx, T, y, ldy);
}

// 8 blocks' nf4_view_absmax(w, b0 + lane) * (1 / 127) (lanes from nb on: not read), with its operations: the
// absmax_scale of 8 blocks is at most two values.
inline __m256 absmax8(const kern::Nf4View& w, size_t b0, int nb) {
  int64_t raw = 0;
  if (nb == 8)
    std::memcpy(&raw, w.absmax_q + b0, 8);
  else
    std::memcpy(&raw, w.absmax_q + b0, (size_t)nb);
  const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(raw)));
  const size_t s0 = b0 / 256, s1 = (b0 + nb - 1) / 256;
  const __m256i first = lanes_below(s1 == s0 ? 8 : (int)(s1 * 256 - b0)); // the lanes of scale s0
  const __m256 sc = _mm256_blendv_ps(_mm256_set1_ps(w.absmax_scale[s1]), _mm256_set1_ps(w.absmax_scale[s0]),
                                     _mm256_castsi256_ps(first));
  const __m256 a = _mm256_max_ps(_mm256_add_ps(_mm256_set1_ps(w.absmax_offset), _mm256_mul_ps(q, sc)),
                                 _mm256_setzero_ps()); // a > 0 ? a : 0
  return _mm256_mul_ps(a, _mm256_set1_ps(1.f / 127.f));
}

constexpr int SCALE_BLOCKS = 512; // blocks per row the vectorised scales take (in <= 32768: 16 KiB on the stack)

// The scales of rows [o0, o0 + rows) by groups of 8 (the last padded with its last row's). in % 64 == 0 (and not
// over SCALE_BLOCKS blocks a row): per group, the blocks of its real rows (contiguous in w) 8 at a time, then per 8
// blocks the 8 rows' values transposed to one vector of 8 rows per block, stored for the block's two chunks; else one
// value at a time.
void scales(const kern::Nf4View& w, int o0, int rows, float* dw) {
  const int in = w.cols, nc = in / 32;
  const int padded = (rows + 7) / 8 * 8;
  const int nbr = in / 64; // blocks per row
  if (in % 64 == 0 && nbr <= SCALE_BLOCKS) {
    alignas(32) float a[8 * SCALE_BLOCKS + 8];
    for (int g = 0; g < padded / 8; g++) {
      float* d = dw + (size_t)g * nc * 8;
      const int real = imin(8, rows - 8 * g), nb = real * nbr;
      const size_t b0 = (size_t)(o0 + 8 * g) * nbr;
      for (int i = 0; i < nb; i += 8) _mm256_store_ps(a + i, absmax8(w, b0 + i, imin(8, nb - i)));
      for (int i0 = 0; i0 < nbr; i0 += 8) {
        __m256i z[8]; // z[r]: row 8g + r's blocks i0.. in its lanes (past the row: not stored)
        for (int r = 0; r < 8; r++) z[r] = _mm256_loadu_si256((const __m256i*)(a + imin(r, real - 1) * nbr + i0));
        transpose8(z);
        for (int i = 0; i < imin(8, nbr - i0); i++) {
          _mm256_storeu_si256((__m256i*)(d + (size_t)(2 * (i0 + i)) * 8), z[i]);
          _mm256_storeu_si256((__m256i*)(d + (size_t)(2 * (i0 + i) + 1) * 8), z[i]);
        }
      }
    }
    return;
  }
  for (int r = 0; r < padded; r++) {
    const int src = r < rows ? r : rows - 1;
    float* d = dw + (size_t)(r / 8) * nc * 8 + r % 8;
    for (int j = 0; j < nc; j++)
      d[(size_t)j * 8] = kern::nf4_view_absmax(w, ((size_t)(o0 + src) * in + 32 * j) / 64) * (1.f / 127.f);
  }
}

void decode(const kern::Nf4View& w, const int8_t* levels, int o0, int rows, int8_t* wq, float* dw) {
  scales(w, o0, rows, dw);
  if (wq) levels_rows(w, levels, o0, rows, wq);
}

// quantize_q8's operations 32 values at a time (rows_int8.cc: the reference): the absmax (a NaN never taken, as
// std::max(amax, |x|)), the scales in scalar, the rounding in the current mode, the clamp as min(127, max(-127, v))
// (a NaN to -127); the even values (vshufps) then the odd ones, packed to bytes; with each chunk's sum of q.
void quantize(const float* x, size_t n, int8_t* q, float* d, int32_t* sums) {
  const __m256 lo = _mm256_set1_ps(-127.f), hi = _mm256_set1_ps(127.f);
  const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (size_t c = 0; c < n / 32; c++) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
      v[i] = _mm256_loadu_ps(x + c * 32 + 8 * i);
      m = _mm256_max_ps(_mm256_and_ps(v[i], abs), m); // a NaN |x| gives m
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    const float amax = _mm_cvtss_f32(h);
    d[c] = amax / 127.f;
    const __m256 id = _mm256_set1_ps(amax > 0.f ? 127.f / amax : 0.f);
    const auto level = [&](__m256 a) {
      const __m256 r = _mm256_round_ps(_mm256_mul_ps(a, id), _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC);
      return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
    };
    // per 128-bit lane: e01 = x 0 2 8 10 | 4 6 12 14, e23 = x 16 18 24 26 | 20 22 28 30, the odd ones likewise
    const __m256i e01 = level(_mm256_shuffle_ps(v[0], v[1], 0x88)), e23 = level(_mm256_shuffle_ps(v[2], v[3], 0x88));
    const __m256i o01 = level(_mm256_shuffle_ps(v[0], v[1], 0xDD)), o23 = level(_mm256_shuffle_ps(v[2], v[3], 0xDD));
    // bytes: lane 0 = x 0 2 8 10 16 18 24 26 1 3 9 11 17 19 25 27, lane 1 the same + 4; interleaved by 16-bit pairs
    const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(e01, e23), _mm256_packs_epi32(o01, o23));
    const __m128i b0 = _mm256_castsi256_si128(b), b1 = _mm256_extracti128_si256(b, 1);
    _mm_storeu_si128((__m128i*)(q + c * 32), _mm_unpacklo_epi16(b0, b1));
    _mm_storeu_si128((__m128i*)(q + c * 32 + 16), _mm_unpackhi_epi16(b0, b1));
    const __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(e01, e23), _mm256_add_epi32(o01, o23));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    sums[c] = _mm_cvtsi128_si32(s4);
  }
}

} // namespace

const RowsInt8Kernels rows_int8_kernels_avx2{products, decode, products_nf4, quantize};

} // namespace peft::decode
#else
namespace peft::decode {
const RowsInt8Kernels rows_int8_kernels_avx2{nullptr, nullptr, nullptr, nullptr};
} // namespace peft::decode
#endif
