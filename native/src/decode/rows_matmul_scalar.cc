// Portable bodies of decode/rows_matmul (no SIMD intrinsics; built without AVX on x86): one running sum per (row,
// output) over the inputs in order, the reference the vector variants are held to and the path for other CPUs.
#include "decode/rows_variants.h"

namespace peft::decode {

namespace {

void products(const float* W, int o0, int o1, int in, const float* x, int T, float* y, int ldy) {
  for (int o = o0; o < o1; o++) {
    const float* w = W + (size_t)(o - o0) * in;
    for (int t = 0; t < T; t++) {
      const float* xr = x + (size_t)t * in;
      float s = 0.f;
      for (int k = 0; k < in; k++) s += w[k] * xr[k];
      y[(size_t)t * ldy + o] = s;
    }
  }
}

void dequant(const kern::Nf4View& w, size_t b0, size_t nb, float* out) {
  for (size_t b = 0; b < nb; b++) {
    const uint8_t* p = w.packed + (b0 + b) * 32;
    const float a = kern::nf4_view_absmax(w, b0 + b);
    float* o = out + b * 64;
    for (int i = 0; i < 32; i++) {
      o[2 * i] = w.code[p[i] & 15] * a;
      o[2 * i + 1] = w.code[p[i] >> 4] * a;
    }
  }
}

} // namespace

const RowsKernels rows_kernels_scalar{products, dequant};

} // namespace peft::decode
