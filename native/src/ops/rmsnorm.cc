// RMSNorm forward/backward (Llama): out = x * rsqrt(mean(x^2) + eps) * w, accumulated in double per row.
#include <cmath>
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace peft::ops {

void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int N, int C, float eps) {
  par_rows(N, (size_t)C, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      float* yr = out + (size_t)r * C;
      double ss = 0;
      for (int c = 0; c < C; c++) ss += (double)xr[c] * xr[c];
      float rs = (float)(1.0 / std::sqrt(ss / C + (double)eps));
      if (rstd) rstd[r] = rs;
      for (int c = 0; c < C; c++) yr[c] = w[c] * (xr[c] * rs);
    }
  });
}

// out = x * rstd * w with a saved rstd: recomputes the forward's output bit for bit without the sum of squares.
void rmsnorm_apply(float* out, const float* x, const float* w, const float* rstd, int N, int C) {
  par_rows(N, (size_t)C, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      float* yr = out + (size_t)r * C;
      const float rs = rstd[r];
      for (int c = 0; c < C; c++) yr[c] = w[c] * (xr[c] * rs);
    }
  });
}

void rmsnorm_backward(float* dx, const float* dout, const float* x, const float* w, const float* rstd, int N, int C) {
  par_rows(N, (size_t)C, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      const float* dy = dout + (size_t)r * C;
      float* dxr = dx + (size_t)r * C;
      double rs = rstd[r];
      double dot = 0; // sum_c (dy*w)_c x_c
      for (int c = 0; c < C; c++) dot += (double)dy[c] * w[c] * xr[c];
      double k = rs * rs * rs * dot / C;
      for (int c = 0; c < C; c++) dxr[c] += (float)(rs * (double)dy[c] * w[c] - k * xr[c]);
    }
  });
}

} // namespace peft::ops
