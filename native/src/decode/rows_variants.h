// The per-ISA bodies of decode/rows_matmul (row-independent products of batched decoding) and decode/rows_int8 (its
// int8 mode): each variant file is compiled with its own ISA flags (rows_matmul_avx512.cc, rows_matmul_avx2.cc without
// AVX-512, rows_matmul_scalar.cc without AVX, rows_matmul_avx512bf16.cc, rows_int8_avx512vnni.cc, ...). Plain pointers
// and views only, so the linker never merges an inline function built for one ISA into another's code.
#pragma once
#include <cstddef>
#include <cstdint>
#include "kernels/gemv_variants.h"

namespace peft::decode {

// y[t * ldy + o] = sum_k W[(o - o0) * in + k] x[t * in + k] for o in [o0, o1), t < T (W points at weight row o0).
// Every (row, output) pair runs the same operations in the same order however rows and outputs are blocked, so a
// row's result never depends on T or on the other rows.
using RowsProducts = void (*)(const float* W, int o0, int o1, int in, const float* x, int T, float* y, int ldy);
// NF4 blocks [b0, b0 + nb) of w to fp32, 64 values per block, contiguous in out (a tile of whole weight rows).
using Nf4Blocks = void (*)(const kern::Nf4View& w, size_t b0, size_t nb, float* out);

struct RowsKernels {
  RowsProducts products;
  Nf4Blocks dequant;
};

// The products of a frozen projection's weight tiles (rows_matmul), where an ISA has a faster form than `products`:
// the same contract (a row's result never depends on T or on the other rows), other bits (each output one FMA chain
// over the inputs in order, no lane reduction: rows_frozen_avx512.cc). `products` stays what the lm_head and LoRA
// factors run (rows_matmul_f32), whose bits generate's single-row decode_rows_f32 reproduces; generate and the batched
// decoder both run a frozen projection's tiles through rows_matmul, so both get these. Null where the build has none.
using FrozenProducts = RowsProducts;
extern const FrozenProducts frozen_products_avx512_fn;
// The same for an NF4 weight's rows [o0, o1) (o0 a multiple of 16) read from its interleaved codes: the products over
// the dequantized rows, bit for bit.
using FrozenNf4Products = void (*)(const kern::Nf4IView& w, int o0, int o1, const float* x, int T, float* y, int ldy);
extern const FrozenNf4Products frozen_products_nf4_avx512_fn;
extern const FrozenNf4Products frozen_products_nf4_avx2_fn; // rows_frozen_avx2.cc: 8 outputs to a vector
constexpr int FROZEN_TILE_ROWS = 48; // the weight rows per tile it runs best on (three vectors of 16 outputs)

// bf16 mode (bf16 compute on a CPU with AVX512-BF16): y as RowsProducts for bf16 weights and bf16 inputs, fp32
// accumulation (vdpbf16ps); NF4 blocks to bf16; fp32 values to bf16 (round to nearest even).
using RowsBf16Products = void (*)(const uint16_t* W, int o0, int o1, int in, const uint16_t* x, int T, float* y,
                                  int ldy);
using Nf4BlocksBf16 = void (*)(const kern::Nf4View& w, size_t b0, size_t nb, uint16_t* out);
using ToBf16 = void (*)(const float* x, size_t n, uint16_t* out);

struct RowsBf16Kernels {
  RowsBf16Products products;
  Nf4BlocksBf16 dequant;
  ToBf16 convert;
};

// int8 mode (int8 compute, decode/rows_int8.h): weights as int8 levels with one fp32 scale per 32 inputs of a row
// (NF4: the code book as 16 int8 levels, round(code * 127), scale absmax * (1 / 127); the lm_head quantised once at
// load), inputs quantised per row per 32 inputs (scale absmax / 127, values in [-127, 127]). Within each 32-value
// chunk int8 values are stored in NF4's nibble order: positions 0..15 hold the even-indexed values 0, 2, .., 30 (the
// low nibbles of the chunk's 16 packed bytes), positions 16..31 the odd ones (the high nibbles), so 32 NF4 codes
// become 32 levels with one byte shuffle. Weight scales are stored by groups of 8 rows (a vector of 8 outputs' scales
// per chunk): row r's scale of chunk j at ((r / 8) * nc + j) * 8 + r % 8 (nc = in / 32), the last group padded with
// its last row's scales. The numbers every variant reproduces bit for bit (the scalar file is the reference): per
// (row t, output o) one fp32 sum over the chunks in order, s = fma((float)(the chunk's exact int32 dot of w and x),
// dw[o, j] * dx[t, j], s). Since the chunk dot is an exact integer, how a variant computes it is free (the AVX2 body:
// vpmaddubsw on |w| and sign(x, w); the AVX512-VNNI body: vpdpbusd on the unsigned w + 128 and x, less 128 * sx, sx
// the chunk's sum of x); only the per-output order of the FMAs over chunks is fixed. y[t * ldy + o] for o in
// [o0, o1), t < T; wq points at weight row o0 ([o1 - o0, in] int8), dw at the scales of its group (o0 - the array's
// first row a multiple of 8); xq [T, in], dx [T, in / 32] (by row), sx [T, in / 32] each chunk's exact sum of xq
// (read only by the VNNI body).
using RowsInt8Products = void (*)(const int8_t* wq, const float* dw, int o0, int o1, int in, const int8_t* xq,
                                  const float* dx, const int32_t* sx, int T, float* y, int ldy);
// The same numbers with the weights read as NF4 codes (rows [o0, o1) of w, looked up in levels in registers): the
// path of few rows (single-sequence decoding), where a decoded tile would be written and read once.
using RowsInt8Nf4Products = void (*)(const kern::Nf4View& w, const int8_t* levels, const float* dw, int o0, int o1,
                                     const int8_t* xq, const float* dx, const int32_t* sx, int T, float* y, int ldy);
// Weight rows [o0, o0 + rows) of an NF4 weight with in % 32 == 0 to int8 levels (levels[code], in the chunk order
// above; skipped when wq is null) and their scales by groups of 8 rows: wq [rows, in], dw [ceil(rows / 8) * 8 * nc].
using Nf4TileInt8 = void (*)(const kern::Nf4View& w, const int8_t* levels, int o0, int rows, int8_t* wq, float* dw);
// x [n] (n % 32 == 0) quantised as decode::quantize_q8 does it (the same numbers: rows_int8.h), with each chunk's sum
// of q in sums [n / 32].
using QuantizeQ8Sums = void (*)(const float* x, size_t n, int8_t* q, float* d, int32_t* sums);

struct RowsInt8Kernels {
  RowsInt8Products products;
  Nf4TileInt8 decode;
  RowsInt8Nf4Products products_nf4;
  QuantizeQ8Sums quantize; // null: rows_int8.cc's quantize_q8 and a loop for the sums
};

extern const RowsKernels rows_kernels_scalar;
// Null members when the build has no code for the ISA (a non-x86 compiler).
extern const RowsKernels rows_kernels_avx512;
extern const RowsKernels rows_kernels_avx2;
// rows_matmul_avx512bf16.cc; null members where the build has no AVX512-BF16 code.
extern const RowsBf16Kernels rows_bf16_kernels_avx512bf16;
// rows_int8_scalar.cc (the reference), rows_int8_avx2.cc and rows_int8_avx512vnni.cc (null members where the build
// has no code for the ISA).
extern const RowsInt8Kernels rows_int8_kernels_scalar;
extern const RowsInt8Kernels rows_int8_kernels_avx2;
extern const RowsInt8Kernels rows_int8_kernels_avx512vnni;

} // namespace peft::decode
