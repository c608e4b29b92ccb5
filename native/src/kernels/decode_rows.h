// Decode products: y[T, out] = x[T, in] W^T for the few rows of a decoding step (T <= 32), computed for output rows
// [o0, o1) by the caller's thread (the caller lays the pool region out: several projections, or a fused epilogue, in
// one region). NF4 weights are decoded in registers from their interleaved layout (nf4_interleaved.h; never
// materialised), fp32 weights read in place. A row's result never depends on T or on how outputs are split: an NF4
// value is one FMA chain over the inputs in order (gemv_variants.h, Nf4InterleavedRows: the same bits on every ISA,
// and decode/rows_matmul's frozen tile products' on AVX-512); an fp32 one is one accumulator over the inputs in order,
// then one lane reduction (on AVX-512 decode/rows_matmul's numbers: 16 lanes, masked tail).
#pragma once
#include <vector>
#include "kernels/linear.h"

namespace peft::kern {

// The input rows [T, in] for the NF4 bodies: transposed ([in, T]) into xt where the active body reads them so (x
// itself where it does not: one row, or as many as it reads untransposed); for the bf16 bodies of the active ISA: in
// each group of 32 (AVX-512) or 16 (AVX2) values, the even elements then the odd ones, the order in which a body
// unpacks the bf16 pairs (the scalar body reads them as they are). Once per product, shared by all threads.
const float* decode_prepare_nf4(const float* x, int T, int in, std::vector<float>& xt);
void decode_prepare_bf16(const float* x, int T, int in, std::vector<float>& xn);
// Whether decode_rows can take this weight (fp32, or NF4 with whole 64-weight blocks per row).
bool decode_rows_supported(const FrozenLinear& w);
// y[t * out + o] = sum_k W[o, k] x[t * in + k] (+ bias[o]) for o in [o0, o1), t < T. Serial (call inside a region).
// xn: x after decode_prepare_nf4 for NF4 weights, decode_prepare_bf16 for bf16 ones (null for fp32 ones). NF4 output
// ranges start on a multiple of 16.
// bf16: read the weight's bf16 copy where it has one (FrozenLinear::keep_bf16_copy, bf16 compute).
void decode_rows(const FrozenLinear& w, const float* x, const float* xn, int T, float* y, int o0, int o1,
                 bool bf16 = false);
// The same for a plain fp32 matrix W [out, in] (the head, LoRA factors); no bias.
void decode_rows_f32(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1);
// The same for a bf16 matrix (bf16 compute: the head's and unquantized weights' bf16 copies), fp32 accumulation;
// xn: x after decode_prepare_bf16 (the vector bodies read even and odd elements apart).
void decode_rows_bf16(const uint16_t* W, int out, int in, const float* x, const float* xn, int T, float* y, int o0,
                      int o1);
// Per-ISA body of decode_rows_bf16 (decode_rows_avx512.cc, decode_rows_avx2.cc, decode_rows_scalar.cc).
using DecodeBf16Rows = void (*)(const uint16_t* W, int out, int in, const float* x, int T, float* y, int o0, int o1);

} // namespace peft::kern
