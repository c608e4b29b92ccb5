// fp32 <-> bf16 conversion: round to nearest even, NaN stays NaN (quietened), infinities and signed zeros kept. The
// loops run in the active ISA's unit (kernels/simd.h), where the compiler vectorises them for that ISA.
#include "kernels/kernels.h"
#include "kernels/simd.h"

namespace peft::kern {

void f32_to_bf16(const float* x, bf16* y, size_t n) { simd().f32_to_bf16(x, y, n); }

void bf16_to_f32(const bf16* x, float* y, size_t n) { simd().bf16_to_f32(x, y, n); }

} // namespace peft::kern
