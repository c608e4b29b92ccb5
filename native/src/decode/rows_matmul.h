// Matrix products for batched decoding whose result for a row never depends on the other rows: every (row, output)
// dot product runs in one 16-lane accumulator over the inputs in order, then one lane reduction, however the rows
// and outputs are blocked (AVX2: 8 lanes, the inputs past the last multiple of 8 added after the reduction); register
// blocks of rows x outputs (6 x 4 on AVX-512, 2 x 4 on AVX2) reuse each weight and input load.
#include <cstdint>
#pragma once
#include "kernels/linear.h"

namespace peft::decode {

// y[T, out] = x[T, in] W^T for fp32 W [out, in] (row-major).
void rows_matmul_f32(const float* W, int out, int in, const float* x, int T, float* y);
// y[T, out] = x[T, in] W^T (+ bias) for a frozen projection in any storage: tiles of 16 weight rows materialised in
// fp32 per thread (NF4 / bf16) or read in place (fp32), then the same blocked products.
// bf16: the bf16 mode below (callers ask for it in bf16 compute; it is taken where rows_bf16_available()).
void rows_matmul(const kern::FrozenLinear& W, const float* x, int T, float* y, bool bf16 = false);

// The bf16 mode (bf16 compute on a CPU with AVX512-BF16, rows_matmul_avx512bf16.cc): the input rows rounded to bf16
// once per call, weight tiles in bf16 (NF4 tiles decoded to bf16 once per call, bf16 storage or the weight's bf16
// copy read in place, fp32 tiles rounded), products with vdpbf16ps in fp32 accumulators; a row's result still never
// depends on the other rows. Single-sequence generation in bf16 compute runs the same products (generate.cc).
bool rows_bf16_available();
// y[T, out] = x[T, in] W^T for a bf16 matrix W [out, in] (the lm_head's bf16 copy), in the bf16 mode.
void rows_matmul_bf16(const uint16_t* W, int out, int in, const float* x, int T, float* y);

} // namespace peft::decode
