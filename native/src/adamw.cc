// AdamW exactly as torch 1.13's single-tensor path computes it in float32: decoupled weight decay first, then the
// moment updates, then p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps) with bias corrections in float64.
#include <cmath>
#include "adamw.h"

namespace peft {

void adamw_update(float* p, float* m, float* v, const float* g, size_t n, float lr, float beta1, float beta2, float eps,
                  float weight_decay, long t) {
  const double lr_d = lr;
  const float decay = (float)(1.0 - lr_d * (double)weight_decay);
  const double bc1 = 1.0 - std::pow((double)beta1, (double)t);
  const double bc2 = 1.0 - std::pow((double)beta2, (double)t);
  const float step_size = (float)(lr_d / bc1);
  const float bc2_sqrt = (float)std::sqrt(bc2);
  const float one_m_b1 = (float)(1.0 - (double)beta1), one_m_b2 = (float)(1.0 - (double)beta2);
  for (size_t i = 0; i < n; i++) {
    float pi = p[i] * decay;
    float gi = g[i];
    float mi = m[i] * beta1;
    mi = mi + one_m_b1 * gi;
    float vi = v[i] * beta2;
    vi = vi + one_m_b2 * gi * gi;
    float denom = std::sqrt(vi) / bc2_sqrt + eps;
    pi = pi + (-step_size) * (mi / denom);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

} // namespace peft
