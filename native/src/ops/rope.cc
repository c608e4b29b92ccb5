// Rotary position embedding in the HF rotate_half layout (dim j pairs with j + hd/2, or j + rotary_dim/2 over the
// first rotary_dim dims of each head for partial rotary), forward and backward.
#include <cmath>
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace peft::ops {

void rope_table(RopeTable& tab, const std::vector<double>& inv_freq, double pos_scale, int pos0, int T) {
  tab.pos0 = pos0;
  tab.T = T;
  tab.half = (int)inv_freq.size();
  tab.cos.resize((size_t)T * tab.half);
  tab.sin.resize((size_t)T * tab.half);
  for (int t = 0; t < T; t++) {
    double pos = (double)(pos0 + t) * pos_scale;
    for (int j = 0; j < tab.half; j++) {
      double a = pos * inv_freq[j];
      tab.cos[(size_t)t * tab.half + j] = (float)std::cos(a);
      tab.sin[(size_t)t * tab.half + j] = (float)std::sin(a);
    }
  }
}

static void rotate(float* x, const RopeTable& tab, int N, int T, int nheads, int hd, float sign) {
  const int half = tab.half; // hd / 2, or rotary_dim / 2 (partial rotary: the rest of each head passes through)
  par_rows(N, (size_t)nheads * hd, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      const float* c = tab.cos.data() + (size_t)(r % T) * half;
      const float* s = tab.sin.data() + (size_t)(r % T) * half;
      for (int h = 0; h < nheads; h++) {
        float* v = x + (size_t)r * nheads * hd + (size_t)h * hd;
        for (int j = 0; j < half; j++) {
          float x1 = v[j], x2 = v[j + half], sn = sign * s[j];
          v[j] = x1 * c[j] - x2 * sn;
          v[j + half] = x2 * c[j] + x1 * sn;
        }
      }
    }
  });
}

void rope_forward(float* x, const RopeTable& tab, int N, int T, int nheads, int hd) {
  rotate(x, tab, N, T, nheads, hd, 1.f);
}
void rope_backward(float* dx, const RopeTable& tab, int N, int T, int nheads, int hd) {
  rotate(dx, tab, N, T, nheads, hd, -1.f);
}

} // namespace peft::ops
