// RMSNorm forward/backward (Llama): out = x * rsqrt(mean(x^2) + eps) * w, accumulated in double per row.
#include <cmath>
#include <vector>
#include "kernels/kernels.h"
#include "ops/ops.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace peft::ops {

// Row reductions in double: sum_c a_c b_c c_c (c may be null: sum_c a_c b_c). Products are formed exactly as the
// scalar loop would ((double)a * b * c); with AVX-512 they are summed in 32 lanes (four 8-wide accumulators)
// instead of one sequential chain, which was latency-bound (~4 cycles per element); the sum differs from the
// sequential one only in the last bits of a double.
static inline double dot_d(const float* a, const float* b, const float* c, int C) {
  int i = 0;
  double s = 0;
#if defined(__AVX512F__)
  __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
  for (; i + 32 <= C; i += 32)
    for (int k = 0; k < 4; k++) {
      __m512d p = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(a + i + 8 * k)),
                                _mm512_cvtps_pd(_mm256_loadu_ps(b + i + 8 * k)));
      if (c) p = _mm512_mul_pd(p, _mm512_cvtps_pd(_mm256_loadu_ps(c + i + 8 * k)));
      acc[k] = _mm512_add_pd(acc[k], p);
    }
  s = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3])));
#endif
  for (; i < C; i++) s += c ? (double)a[i] * b[i] * c[i] : (double)a[i] * b[i];
  return s;
}

void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int N, int C, float eps) {
  par_rows(N, (size_t)C, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      float* yr = out + (size_t)r * C;
      const double ss = dot_d(xr, xr, nullptr, C);
      float rs = (float)(1.0 / std::sqrt(ss / C + (double)eps));
      if (rstd) rstd[r] = rs;
      for (int c = 0; c < C; c++) yr[c] = w[c] * (xr[c] * rs);
    }
  });
}

// The residual add and the next norm in one pass over each row (the row stays in L1 between them): x2 += x, then
// out = rmsnorm(x2). The same arithmetic as add then rmsnorm_forward, so the same bits.
void add_rmsnorm_forward(float* x2, const float* x, float* out, float* rstd, const float* w, int N, int C, float eps) {
  par_rows(N, (size_t)C * 2, [&](int b, int e) {
    for (int r = b; r < e; r++) {
      float* xr = x2 + (size_t)r * C;
      const float* ar = x + (size_t)r * C;
      for (int c = 0; c < C; c++) xr[c] += ar[c];
      const float rs = (float)(1.0 / std::sqrt(dot_d(xr, xr, nullptr, C) / C + (double)eps));
      if (rstd) rstd[r] = rs;
      float* yr = out + (size_t)r * C;
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

// rmsnorm_apply written as bf16 (the same fp32 values, rounded): for consumers that only read it in bf16.
void rmsnorm_apply_bf16(uint16_t* out, const float* x, const float* w, const float* rstd, int N, int C) {
  par_rows(N, (size_t)C, [&](int b, int e) {
    std::vector<float> row(C);
    for (int r = b; r < e; r++) {
      const float* xr = x + (size_t)r * C;
      const float rs = rstd[r];
      for (int c = 0; c < C; c++) row[c] = w[c] * (xr[c] * rs);
      kern::f32_to_bf16(row.data(), out + (size_t)r * C, (size_t)C);
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
      const double dot = dot_d(dy, w, xr, C); // sum_c (dy*w)_c x_c
      double k = rs * rs * rs * dot / C;
      for (int c = 0; c < C; c++) dxr[c] += (float)(rs * (double)dy[c] * w[c] - k * xr[c]);
    }
  });
}

} // namespace peft::ops
