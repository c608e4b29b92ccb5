// RMSNorm forward/backward (Llama): out = x * rsqrt(mean(x^2) + eps) * w, accumulated in double per row.
#include <cmath>
#include <vector>
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "ops/ops.h"

namespace peft::ops {

// The row loops run in the active ISA's unit (kernels/simd.h): the sum of squares in double over 32 lanes in a fixed
// order (the same bits on every ISA; a sequential chain was latency-bound, ~4 cycles per element) and y = w (x rs).
void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int N, int C, float eps) {
  const kern::SimdKernels& K = kern::simd();
  par_rows(N, (size_t)C, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      float* yr = out + (size_t)r * C;
      const double ss = K.dot_d(xr, xr, nullptr, C);
      float rs = (float)(1.0 / std::sqrt(ss / C + (double)eps));
      if (rstd) rstd[r] = rs;
      K.norm_row(yr, xr, w, rs, C);
    }
  });
}

// The residual add and the next norm in one pass over each row (the row stays in L1 between them): x2 += x, then
// out = rmsnorm(x2). The same arithmetic as add then rmsnorm_forward, so the same bits.
void add_rmsnorm_forward(float* x2, const float* x, float* out, float* rstd, const float* w, int N, int C, float eps) {
  const kern::SimdKernels& K = kern::simd();
  par_rows(N, (size_t)C * 2, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      float* xr = x2 + (size_t)r * C;
      const float* ar = x + (size_t)r * C;
      for (int c = 0; c < C; c++) xr[c] += ar[c];
      const float rs = (float)(1.0 / std::sqrt(K.dot_d(xr, xr, nullptr, C) / C + (double)eps));
      if (rstd) rstd[r] = rs;
      K.norm_row(out + (size_t)r * C, xr, w, rs, C);
    }
  });
}

// out = x * rstd * w with a saved rstd: recomputes the forward's output bit for bit without the sum of squares.
void rmsnorm_apply(float* out, const float* x, const float* w, const float* rstd, int N, int C) {
  const kern::SimdKernels& K = kern::simd();
  par_rows(N, (size_t)C, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      float* yr = out + (size_t)r * C;
      K.norm_row(yr, xr, w, rstd[r], C);
    }
  });
}

// rmsnorm_apply written as bf16 (the same fp32 values, rounded): for consumers that only read it in bf16.
void rmsnorm_apply_bf16(uint16_t* out, const float* x, const float* w, const float* rstd, int N, int C) {
  const kern::SimdKernels& K = kern::simd();
  par_rows(N, (size_t)C, [&](int b, int e) {
    std::vector<float> row(C);
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      K.norm_row(row.data(), xr, w, rstd[r], C);
      K.f32_to_bf16(row.data(), out + (size_t)r * C, (size_t)C);
    }
  });
}

void rmsnorm_backward(float* dx, const float* dout, const float* x, const float* w, const float* rstd, int N, int C) {
  const kern::SimdKernels& K = kern::simd();
  par_rows(N, (size_t)C, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      const float* dy = dout + (size_t)r * C;
      float* dxr = dx + (size_t)r * C;
      double rs = rstd[r];
      const double dot = K.dot_d(dy, w, xr, C); // sum_c (dy*w)_c x_c
      double k = rs * rs * rs * dot / C;
      K.norm_bwd_row(dxr, dy, w, xr, rs, k, C);
    }
  });
}

} // namespace peft::ops
