// The portable body of the interleaved NF4 decode products (gemv_variants.h, Nf4InterleavedRows): the reference every
// vector body reproduces bit for bit, one std::fma chain per (row, output). Built without AVX, -ffp-contract=off.
#include <cmath>
#include "kernels/gemv_variants.h"

namespace peft::kern {

void nf4i_rows_scalar(const Nf4IView& w, const float* x, const float*, int T, float* y, int ldy, int o0, int o1) {
  const int half = w.cols / 2, nb = w.cols / 64;
  for (int o = o0; o < o1; o++) {
    const int g = o / 16, j = o % 16;
    const uint8_t* c = w.codes + (size_t)g * half * 16 + j;
    const float* s = w.scales + (size_t)g * nb * 16 + j;
    for (int t = 0; t < T; t++) {
      const float* xr = x + (size_t)t * w.cols;
      float acc = 0.f;
      for (int k = 0; k < w.cols; k += 2) {
        const uint8_t byte = c[(size_t)(k / 2) * 16];
        const float a = s[(size_t)(k / 64) * 16];
        acc = std::fma(xr[k], w.code[byte & 15] * a, acc);
        acc = std::fma(xr[k + 1], w.code[byte >> 4] * a, acc);
      }
      y[(size_t)t * ldy + o] = acc;
    }
  }
}

} // namespace peft::kern
