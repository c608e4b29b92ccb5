// AVX2 bodies of decode/rows_int8 (built with -mavx2 -mfma -mf16c -mno-avx512f): each 32-input chunk's int8 dot with
// vpmaddubsw on |w| and sign(x, w) (|w|, |x| <= 127: a pair sum stays below 2^15, no saturation) then vpmaddwd into
// 8 int32 lanes (lane l: positions 4 l .. 4 l + 3), converted and accumulated in fp32 lanes with one FMA: the lane
// order of rows_variants.h, the scalar reference's numbers bit for bit. A 2-row x 4-output register block reuses each
// weight and input load; NF4 codes become int8 levels with one vpshufb per 32 (a chunk's low nibbles, then its high
// ones: the chunk order of rows_variants.h), into a tile reused by many rows or straight into registers for few.
#include "decode/rows_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>

namespace peft::decode {

namespace {

inline float hsum(__m256 v) { // lanes l + 4, then l + 2, then the two (the reference's order)
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

// 16 packed bytes (32 NF4 codes) -> 32 int8 levels, low nibbles first.
inline __m256i levels32(const uint8_t* p, __m256i tab, __m256i m) {
  const __m128i b = _mm_loadu_si128((const __m128i*)p);
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
  return _mm256_shuffle_epi8(tab, _mm256_and_si256(v, m));
}

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

template <int MT, int MO, class W>
inline void block(const W& src, const float* dw, int in, const int8_t* xq, const float* dx, int t0, int o, float* y,
                  int ldy) {
  const int nc = in / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[MT][MO];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) acc[i][j] = _mm256_setzero_ps();
  for (int c = 0; c < nc; c++) {
    __m256i w[MO], aw[MO];
    __m256 cw[MO];
    for (int j = 0; j < MO; j++) {
      w[j] = src.load(j, c);
      aw[j] = _mm256_abs_epi8(w[j]);
      cw[j] = _mm256_broadcast_ss(dw + (size_t)j * nc + c);
    }
    for (int i = 0; i < MT; i++) {
      const __m256i xv = _mm256_loadu_si256((const __m256i*)(xq + (size_t)(t0 + i) * in + 32 * c));
      const __m256 cx = _mm256_broadcast_ss(dx + (size_t)(t0 + i) * nc + c);
      for (int j = 0; j < MO; j++) {
        const __m256i p = _mm256_maddubs_epi16(aw[j], _mm256_sign_epi8(xv, w[j]));
        const __m256 d = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
        acc[i][j] = _mm256_fmadd_ps(d, _mm256_mul_ps(cw[j], cx), acc[i][j]);
      }
    }
  }
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) y[(size_t)(t0 + i) * ldy + o + j] = hsum(acc[i][j]);
}

template <int MO, class W>
inline void rows_block(const W& src, const float* dw, int in, const int8_t* xq, const float* dx, int T, int o, float* y,
                       int ldy) {
  int t = 0;
  for (; t + 2 <= T; t += 2) block<2, MO>(src, dw, in, xq, dx, t, o, y, ldy);
  if (t < T) block<1, MO>(src, dw, in, xq, dx, t, o, y, ldy);
}

// Outputs [o0, o1) in blocks of 4; at(o) is the weight source positioned at output o.
template <class At>
inline void outputs(const At& at, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx, int T,
                    float* y, int ldy) {
  const int nc = in / 32;
  int o = o0;
  for (; o + 4 <= o1; o += 4) rows_block<4>(at(o), dw + (size_t)(o - o0) * nc, in, xq, dx, T, o, y, ldy);
  const float* d = dw + (size_t)(o - o0) * nc;
  switch (o1 - o) {
    case 3: rows_block<3>(at(o), d, in, xq, dx, T, o, y, ldy); break;
    case 2: rows_block<2>(at(o), d, in, xq, dx, T, o, y, ldy); break;
    case 1: rows_block<1>(at(o), d, in, xq, dx, T, o, y, ldy); break;
    default: break;
  }
}

void products(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx, int T,
              float* y, int ldy) {
  outputs([&](int o) { return TileW{wq + (size_t)(o - o0) * in, in}; }, dw, o0, o1, in, xq, dx, T, y, ldy);
}

void products_nf4(const kern::Nf4View& w, const int8_t* levels, const float* dw, int o0, int o1, const int8_t* xq,
                  const float* dx, int T, float* y, int ldy) {
  const int in = w.cols;
  const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)levels));
  const __m256i m = _mm256_set1_epi8(0x0F);
  outputs(
      [&](int o) {
        return Nf4W{w.packed + (size_t)o * in / 2, (size_t)in / 2, tab, m};
      },
      dw, o0, o1, in, xq, dx, T, y, ldy);
}

void decode(const kern::Nf4View& w, const int8_t* levels, int o0, int rows, int8_t* wq, float* dw) {
  const int in = w.cols, nc = in / 32;
  const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)levels));
  const __m256i m = _mm256_set1_epi8(0x0F);
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < nc; j++) {
      const size_t g = (size_t)(o0 + r) * in + 32 * j; // a multiple of 32: the chunk lies in one 64-weight block
      dw[(size_t)r * nc + j] = kern::nf4_view_absmax(w, g / 64) * (1.f / 127.f);
      if (wq) _mm256_storeu_si256((__m256i*)(wq + (size_t)r * in + 32 * j), levels32(w.packed + g / 2, tab, m));
    }
}

} // namespace

const RowsInt8Kernels rows_int8_kernels_avx2{products, decode, products_nf4};

} // namespace peft::decode
#else
namespace peft::decode {
const RowsInt8Kernels rows_int8_kernels_avx2{nullptr, nullptr, nullptr};
} // namespace peft::decode
#endif
