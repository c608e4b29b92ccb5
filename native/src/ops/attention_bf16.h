// The AVX512-BF16 attention kernels (ops/attention_bf16.cc) behind attention_forward / attention_backward's bf16 mode.
#pragma once
#include "ops/ops.h"

namespace peft::ops {

// True when this build has the AVX512-BF16 kernels and they take this shape (head_dim <= 64); otherwise the bf16
// mode runs the blocked gemm_bf16 path in attention.cc.
bool attention_bf16_supported(const AttnShape& s);
// Same contracts as attention_forward / attention_backward (ops.h).
void attention_forward_bf16(float* out, float* lse, const float* q, const float* k, const float* v, const AttnShape& s);
void attention_backward_bf16(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                             const float* k, const float* v, const float* lse, const AttnShape& s);

} // namespace peft::ops
