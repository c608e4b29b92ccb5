// The row reductions the fused softmax / cross-entropy kernels use: max, sum of exp(x - m), in-place exp(x - m) * s,
// with a vectorised float exp (Cephes polynomial, ~1-2 ulp, exp(x < -103) = 0). The bodies are the active ISA's
// (kernels/simd.h) and give the same bits on every ISA.
#pragma once
#include <cstddef>
#include "kernels/simd.h"

namespace peft::kern {

inline float vmax(const float* x, size_t n) { return simd().vmax(x, n); }
// sum_i exp(x_i - m), accumulated in 16 float lanes then in double.
inline double vsumexp(const float* x, size_t n, float m) { return simd().vsumexp(x, n, m); }
// x_i = exp(x_i - m) * scale in place.
inline void vexp_scale(float* x, size_t n, float m, float scale) { simd().vexp_scale(x, n, m, scale); }

} // namespace peft::kern
