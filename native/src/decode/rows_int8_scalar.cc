// Portable bodies of decode/rows_int8 (built without AVX on x86): the exact integer chunk dot products and the fixed
// lane order of rows_variants.h written out one value at a time, the reference every vector variant equals bit for bit.
#include <cmath>
#include <vector>
#include "decode/rows_variants.h"

namespace peft::decode {

namespace {

void products(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq, const float* dx, int T,
              float* y, int ldy) {
  const int nc = in / 32;
  for (int o = o0; o < o1; o++) {
    const int8_t* w = wq + (size_t)(o - o0) * in;
    const float* dwo = dw + (size_t)(o - o0) * nc;
    for (int t = 0; t < T; t++) {
      const int8_t* x = xq + (size_t)t * in;
      const float* dxt = dx + (size_t)t * nc;
      float lane[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      for (int j = 0; j < nc; j++) {
        const float c = dwo[j] * dxt[j];
        for (int l = 0; l < 8; l++) {
          int d = 0;
          for (int i = 32 * j + 4 * l; i < 32 * j + 4 * l + 4; i++) d += (int)w[i] * (int)x[i];
          lane[l] = std::fma((float)d, c, lane[l]);
        }
      }
      float s4[4], s2[2];
      for (int l = 0; l < 4; l++) s4[l] = lane[l] + lane[l + 4];
      for (int l = 0; l < 2; l++) s2[l] = s4[l] + s4[l + 2];
      y[(size_t)t * ldy + o] = s2[0] + s2[1];
    }
  }
}

void decode(const kern::Nf4View& w, const int8_t* levels, int o0, int rows, int8_t* wq, float* dw) {
  const int in = w.cols, nc = in / 32;
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < nc; j++) {
      const size_t g = (size_t)(o0 + r) * in + 32 * j; // a multiple of 32: the chunk lies in one 64-weight block
      dw[(size_t)r * nc + j] = kern::nf4_view_absmax(w, g / 64) * (1.f / 127.f);
      if (!wq) continue;
      const uint8_t* p = w.packed + g / 2;
      int8_t* o = wq + (size_t)r * in + 32 * j;
      for (int i = 0; i < 16; i++) { // low nibbles (even values) first, then the high ones
        o[i] = levels[p[i] & 15];
        o[16 + i] = levels[p[i] >> 4];
      }
    }
}

void products_nf4(const kern::Nf4View& w, const int8_t* levels, const float* dw, int o0, int o1, const int8_t* xq,
                  const float* dx, int T, float* y, int ldy) {
  std::vector<int8_t> wq((size_t)w.cols);
  std::vector<float> unused((size_t)w.cols / 32);
  for (int o = o0; o < o1; o++) {
    decode(w, levels, o, 1, wq.data(), unused.data());
    products(wq.data(), dw + (size_t)(o - o0) * (w.cols / 32), o, o + 1, w.cols, xq, dx, T, y, ldy);
  }
}

} // namespace

const RowsInt8Kernels rows_int8_kernels_scalar{products, decode, products_nf4};

} // namespace peft::decode
