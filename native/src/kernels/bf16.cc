// fp32 <-> bf16 conversion: round to nearest even, NaN stays NaN (quietened), infinities and signed zeros kept.
// Written as plain loops over integers so the compiler vectorises them (AVX-512 with -march=native).
#include <cstring>
#include "kernels/kernels.h"
#include "kernels/bf16_inline.h"

namespace peft::kern {

void f32_to_bf16(const float* x, bf16* y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = f32_to_bf16_one(x[i]);
}

void bf16_to_f32(const bf16* x, float* y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = bf16_to_f32_one(x[i]);
}

} // namespace peft::kern
