// Matrix products for batched decoding whose result for a row never depends on the other rows: every (row, output)
// dot product runs in one 16-lane accumulator over the inputs in order, then one lane reduction, however the rows
// and outputs are blocked; a block of 4 rows x 4 outputs reuses each weight and input load four times.
#pragma once
#include "kernels/linear.h"

namespace peft::decode {

// y[T, out] = x[T, in] W^T for fp32 W [out, in] (row-major).
void rows_matmul_f32(const float* W, int out, int in, const float* x, int T, float* y);
// y[T, out] = x[T, in] W^T (+ bias) for a frozen projection in any storage: tiles of 16 weight rows materialised in
// fp32 per thread (NF4 / bf16) or read in place (fp32), then the same blocked products.
void rows_matmul(const kern::FrozenLinear& W, const float* x, int T, float* y);

} // namespace peft::decode
