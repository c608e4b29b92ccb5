// LayerNorm with bias (GPT-2): out = (x - mean) * rstd * w + b with the biased variance, rstd = 1/sqrt(var + eps);
// row statistics accumulated in double. Forward, the recompute from saved statistics, and the input gradient.
#include <cmath>
#include "ops/ops.h"

namespace peft::ops {

void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b, int N,
                       int C, float eps) {
  par_rows(N, (size_t)C, [&](int lo, int hi) {
    for (int r = lo; r < hi; r++) {
      const float* xr = x + (size_t)r * C;
      double s = 0;
      for (int c = 0; c < C; c++) s += xr[c];
      const double mu = s / C;
      double v = 0;
      for (int c = 0; c < C; c++) v += (xr[c] - mu) * (xr[c] - mu);
      const float m = (float)mu, rs = (float)(1.0 / std::sqrt(v / C + (double)eps));
      if (mean) mean[r] = m;
      if (rstd) rstd[r] = rs;
      float* yr = out + (size_t)r * C;
      for (int c = 0; c < C; c++) yr[c] = (xr[c] - m) * rs * w[c] + b[c];
    }
  });
}

void layernorm_apply(float* out, const float* x, const float* w, const float* b, const float* mean, const float* rstd,
                     int N, int C) {
  par_rows(N, (size_t)C, [&](int lo, int hi) {
    for (int r = lo; r < hi; r++) {
      const float* xr = x + (size_t)r * C;
      float* yr = out + (size_t)r * C;
      const float m = mean[r], rs = rstd[r];
      for (int c = 0; c < C; c++) yr[c] = (xr[c] - m) * rs * w[c] + b[c];
    }
  });
}

// dx += rstd (g - mean(g) - xhat mean(g xhat)), g = dout * w, xhat = (x - mean) rstd.
void layernorm_backward(float* dx, const float* dout, const float* x, const float* w, const float* mean,
                        const float* rstd, int N, int C) {
  par_rows(N, (size_t)C, [&](int lo, int hi) {
    for (int r = lo; r < hi; r++) {
      const float* xr = x + (size_t)r * C;
      const float* dr = dout + (size_t)r * C;
      float* gr = dx + (size_t)r * C;
      const float m = mean[r], rs = rstd[r];
      double sg = 0, sgx = 0;
      for (int c = 0; c < C; c++) {
        const double g = (double)dr[c] * w[c];
        sg += g;
        sgx += g * ((xr[c] - m) * rs);
      }
      const float mg = (float)(sg / C), mgx = (float)(sgx / C);
      for (int c = 0; c < C; c++) gr[c] += rs * (dr[c] * w[c] - mg - (xr[c] - m) * rs * mgx);
    }
  });
}

} // namespace peft::ops
