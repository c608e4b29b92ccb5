// The int8 mode of batched and single-sequence decoding (int8 compute): NF4 projections as int8 levels x int8 inputs
// with exact int32 chunk dot products (rows_variants.h gives the numbers), and the lm_head as int8 rows with one scale
// per 32 inputs (quantised once at load). A row's result never depends on the other rows or on T.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>
#include "kernels/linear.h"

namespace peft::decode {

struct RowsInt8Kernels; // rows_variants.h

// x [n] (n % 32 == 0) to int8 per 32 values: d = absmax / 127, q = round-half-even(x * (127 / absmax)) in
// [-127, 127] (d = 0 and q = 0 for an all-zero chunk), stored in the products' chunk order (rows_variants.h: within
// each 32, the even-indexed values, then the odd ones). The same code for inputs and the lm_head.
void quantize_q8(const float* x, size_t n, int8_t* q, float* d);
// Whether W runs in the int8 mode: NF4 storage with in % 32 == 0 (others run the fp32 products).
bool rows_int8_supported(const kern::FrozenLinear& W);
// y[T, out] = x[T, in] W^T (+ bias): the int8 mode where rows_int8_supported(W), else decode/rows_matmul's fp32.
void rows_matmul_int8(const kern::FrozenLinear& W, const float* x, int T, float* y);
// ys[j] = x W_j^T (+ bias_j) for n projections reading the same x (q/k/v, gate/up): the input quantised once, the
// tiles of all of them in one pool region; each output's numbers as rows_matmul_int8 gives them.
void rows_matmul_int8_group(const kern::FrozenLinear* const* ws, float* const* ys, int n, const float* x, int T);
// Per-row scales d [rows, nc] (quantize_q8's) in the products' layout: by groups of 8 rows, the last group padded with
// its last row's (rows_variants.h); ceil(rows / 8) * 8 * nc values.
std::vector<float> q8_scales_by8(const float* d, int rows, int nc);
// W [rows, in] (in % 32 == 0) quantised for rows_matmul_q8: q [rows, in], d = q8_scales_by8 of its scales.
void quantize_q8_rows(const float* W, int rows, int in, std::vector<int8_t>& q, std::vector<float>& d);
// y[T, out] = x[T, in] W^T for W quantised by quantize_q8_rows (Wq [out, in], Wd by groups of 8 rows); in % 32 == 0.
void rows_matmul_q8(const int8_t* Wq, const float* Wd, int out, int in, const float* x, int T, float* y);
// The variant the products run on the active ISA (avx512 on a CPU with AVX512-VNNI: rows_int8_avx512vnni.cc; avx2,
// or avx512 without VNNI: rows_int8_avx2.cc; scalar: the reference) and its name ("avx512vnni", "avx2", "scalar").
const RowsInt8Kernels& rows_int8_kernels();
const char* rows_int8_body();
// The NF4 code book as int8 levels, round(code * 127).
const int8_t* nf4_int8_levels();

} // namespace peft::decode
