// The bf16 attention entry points: the AVX512-BF16 kernels (attention_bf16_avx512bf16.cc, their own unit) where the
// build has them, the active kernel ISA is avx512 and the CPU has AVX512-BF16; attention.cc's gemm_bf16 path otherwise.
#include "ops/attention_bf16.h"
#include "kernels/isa.h"

namespace peft::ops {

bool attention_bf16_supported(const AttnShape& s) {
  return attention_bf16_forward_avx512bf16 && kern::active_isa() == kern::Isa::Avx512 && kern::cpu_has_avx512bf16() &&
         s.hd >= 1 && s.hd <= 64;
}

void attention_forward_bf16(float* out, float* lse, const float* q, const float* k, const float* v,
                            const AttnShape& s) {
  attention_bf16_forward_avx512bf16(out, lse, q, k, v, s);
}

void attention_backward_bf16(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                             const float* k, const float* v, const float* lse, const AttnShape& s) {
  attention_bf16_backward_avx512bf16(dq, dk, dv, dout, out, q, k, v, lse, s);
}

} // namespace peft::ops
