// Portable bodies of decode/rows_int8 (built without AVX on x86): the exact integer chunk dot products and the fixed
// summation order of rows_variants.h written out one value at a time, the reference every vector variant equals bit
// for bit.
#include <algorithm>
#include <cmath>
#include <vector>
#include "decode/rows_variants.h"

namespace peft::decode {

namespace {

size_t by8(int r, int j, int nc) { return ((size_t)(r / 8) * nc + j) * 8 + r % 8; }

void products(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx,
              const int32_t*, int T, float* y, int ldy) {
  const int nc = in / 32;
  for (int o = o0; o < o1; o++) {
    const int r = o - o0;
    const int8_t* w = wq + (size_t)r * in;
    for (int t = 0; t < T; t++) {
      const int8_t* x = xq + (size_t)t * in;
      float s = 0.f;
      for (int j = 0; j < nc; j++) {
        int d = 0;
        for (int i = 32 * j; i < 32 * j + 32; i++) d += (int)w[i] * (int)x[i];
        s = std::fma((float)d, dw[by8(r, j, nc)] * dx[(size_t)t * nc + j], s);
      }
      y[(size_t)t * ldy + o] = s;
    }
  }
}

void decode(const kern::Nf4View& w, const int8_t* levels, int o0, int rows, int8_t* wq, float* dw) {
  const int in = w.cols, nc = in / 32;
  const int padded = (rows + 7) / 8 * 8;
  for (int r = 0; r < padded; r++) {
    const int src = std::min(r, rows - 1); // the last group's pad rows repeat its last row's scales
    for (int j = 0; j < nc; j++) {
      const size_t g = (size_t)(o0 + src) * in + 32 * j; // a multiple of 32: the chunk lies in one 64-weight block
      dw[by8(r, j, nc)] = kern::nf4_view_absmax(w, g / 64) * (1.f / 127.f);
      if (!wq || r >= rows) continue;
      const uint8_t* p = w.packed + g / 2;
      int8_t* o = wq + (size_t)r * in + 32 * j;
      for (int i = 0; i < 16; i++) { // low nibbles (even values) first, then the high ones
        o[i] = levels[p[i] & 15];
        o[16 + i] = levels[p[i] >> 4];
      }
    }
  }
}

void products_nf4(const kern::Nf4View& w, const int8_t* levels, const float* dw, int o0, int o1, const int8_t* xq,
                  const float* dx, const int32_t*, int T, float* y, int ldy) {
  std::vector<int8_t> wq((size_t)(o1 - o0) * w.cols);
  std::vector<float> scales((size_t)(o1 - o0 + 7) / 8 * 8 * (w.cols / 32));
  decode(w, levels, o0, o1 - o0, wq.data(), scales.data());
  products(wq.data(), dw, o0, o1, w.cols, xq, dx, nullptr, T, y, ldy);
}

} // namespace

const RowsInt8Kernels rows_int8_kernels_scalar{products, decode, products_nf4, nullptr};

} // namespace peft::decode
