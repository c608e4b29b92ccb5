// Decode products: y[T, out] = x[T, in] W^T for the few rows of a decoding step (T <= 32), computed for output rows
// [o0, o1) by the caller's thread (the caller lays the pool region out: several projections, or a fused epilogue, in
// one region). NF4 weights are decoded in registers (never materialised), fp32 weights read in place. Every
// (row, output) value is one accumulator over the inputs in order, then one lane reduction, so a row's result never
// depends on T or on how outputs are split; on AVX-512 these are decode/rows_matmul's numbers (16 lanes, masked tail).
#pragma once
#include "kernels/linear.h"

namespace peft::kern {

// Whether decode_rows can take this weight (fp32, or NF4 with whole 64-weight blocks per row).
bool decode_rows_supported(const FrozenLinear& w);
// y[t * out + o] = sum_k W[o, k] x[t * in + k] (+ bias[o]) for o in [o0, o1), t < T. Serial (call inside a region).
void decode_rows(const FrozenLinear& w, const float* x, int T, float* y, int o0, int o1);
// The same for a plain fp32 matrix W [out, in] (the head, LoRA factors); no bias.
void decode_rows_f32(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1);

} // namespace peft::kern
