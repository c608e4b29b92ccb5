// AVX2 bodies of decode/rows_int8 (built with -mavx2 -mfma -mf16c -mno-avx512f): each 32-input chunk's int8 dot with
// vpmaddubsw on |w| and sign(x, w) (|w|, |x| <= 127: a pair sum stays below 2^15, no saturation) then vpmaddwd, the
// exact dots of 8 outputs gathered in one vector and accumulated with one FMA per chunk: the summation order of
// rows_variants.h, the scalar reference's numbers bit for bit. A 2-row x 8-output register block reuses each weight
// and input load; NF4 codes become int8 levels with one vpshufb per 32 (a chunk's low nibbles, then its high ones:
// the chunk order of rows_variants.h), into a tile reused by many rows or straight into registers for few.
#include "decode/rows_variants.h"
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>

namespace peft::decode {

namespace {

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

void products(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx,
              const int32_t*, int T, float* y, int ldy) {
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

const RowsInt8Kernels rows_int8_kernels_avx2{products, decode, products_nf4, nullptr};

} // namespace peft::decode
#else
namespace peft::decode {
const RowsInt8Kernels rows_int8_kernels_avx2{nullptr, nullptr, nullptr, nullptr};
} // namespace peft::decode
#endif
