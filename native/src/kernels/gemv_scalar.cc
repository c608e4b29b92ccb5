// Portable decode GEMVs (no SIMD intrinsics; built without AVX on x86): the reference the vector variants are held to,
// and the path for CPUs without AVX2 (ARM included).
#include "kernels/gemv_variants.h"

namespace peft::kern {

void nf4_gemv_rows_scalar(const Nf4View& w, const float* x, int T, float* y, int o0, int o1) {
  const int per_row = w.cols / 64;
  for (int o = o0; o < o1; o++) {
    float acc[32] = {};
    float wb[64];
    for (int b = 0; b < per_row; b++) {
      const size_t blk = (size_t)o * per_row + b;
      const uint8_t* p = w.packed + blk * 32;
      const float a = nf4_view_absmax(w, blk);
      for (int i = 0; i < 32; i++) {
        wb[2 * i] = w.code[p[i] & 15] * a;
        wb[2 * i + 1] = w.code[p[i] >> 4] * a;
      }
      for (int t = 0; t < T; t++) {
        const float* xr = x + (size_t)t * w.cols + (size_t)b * 64;
        float s = 0.f;
        for (int k = 0; k < 64; k++) s += wb[k] * xr[k];
        acc[t] += s;
      }
    }
    for (int t = 0; t < T; t++) y[(size_t)t * w.rows + o] = acc[t];
  }
}

void gemv_f32_rows_scalar(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1) {
  for (int o = o0; o < o1; o++) {
    const float* wr = W + (size_t)o * in;
    for (int t = 0; t < T; t++) {
      const float* xr = x + (size_t)t * in;
      float s = 0.f;
      for (int i = 0; i < in; i++) s += wr[i] * xr[i];
      y[(size_t)t * out + o] = s;
    }
  }
}

} // namespace peft::kern
