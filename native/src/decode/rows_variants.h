// The per-ISA bodies of decode/rows_matmul (row-independent products of batched decoding): each variant file is
// compiled with its own ISA flags (rows_matmul_avx512.cc, rows_matmul_avx2.cc without AVX-512, rows_matmul_scalar.cc
// without AVX). Plain pointers and views only, so the linker never
// merges an inline function built for one ISA into another's code.
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

extern const RowsKernels rows_kernels_scalar;
// Null members when the build has no code for the ISA (a non-x86 compiler).
extern const RowsKernels rows_kernels_avx512;
extern const RowsKernels rows_kernels_avx2;
// rows_matmul_avx512bf16.cc; null members where the build has no AVX512-BF16 code.
extern const RowsBf16Kernels rows_bf16_kernels_avx512bf16;

} // namespace peft::decode
