// AdamW on one tensor as torch.optim.AdamW computes it (the CPU backend's optimizer kernel, adamw.cc).
#pragma once
#include <cstddef>

namespace peft {

// AdamW update of one tensor (torch.optim.AdamW single-tensor path, float32 with float64 bias corrections).
void adamw_update(float* p, float* m, float* v, const float* g, size_t n, float lr, float beta1, float beta2, float eps,
                  float weight_decay, long t);

} // namespace peft
