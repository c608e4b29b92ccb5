// The AVX512-BF16 attention kernels (ops/attention_bf16_avx512bf16.cc, dispatched by ops/attention_bf16.cc) behind attention_forward / attention_backward's bf16 mode.
#pragma once
#include "ops/ops.h"

namespace peft::ops {

// True when this build has the AVX512-BF16 kernels, the active ISA is avx512 on a CPU with AVX512-BF16, and they take
// this shape (head_dim <= 64); otherwise the bf16 mode runs the blocked gemm_bf16 path in attention.cc.
bool attention_bf16_supported(const AttnShape& s);
// Same contracts as attention_forward / attention_backward (ops.h).
void attention_forward_bf16(float* out, float* lse, const float* q, const float* k, const float* v, const AttnShape& s);
void attention_backward_bf16(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                             const float* k, const float* v, const float* lse, const AttnShape& s);

// The kernels' unit (null where the build has none).
using AttnBf16Forward = void (*)(float*, float*, const float*, const float*, const float*, const AttnShape&);
using AttnBf16Backward = void (*)(float*, float*, float*, const float*, const float*, const float*, const float*,
                                  const float*, const float*, const AttnShape&);
extern const AttnBf16Forward attention_bf16_forward_avx512bf16;
extern const AttnBf16Backward attention_bf16_backward_avx512bf16;

} // namespace peft::ops
