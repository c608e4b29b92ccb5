// The per-ISA bodies of decode/rows_matmul (row-independent products of batched decoding): each variant file is
// compiled with its own ISA flags (rows_matmul_avx512.cc, rows_matmul_avx2.cc without AVX-512, rows_matmul_scalar.cc
// without AVX). Plain pointers and views only, so the linker never
// merges an inline function built for one ISA into another's code.
#pragma once
#include <cstddef>
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

extern const RowsKernels rows_kernels_scalar;
// Null members when the build has no code for the ISA (a non-x86 compiler).
extern const RowsKernels rows_kernels_avx512;
extern const RowsKernels rows_kernels_avx2;

} // namespace peft::decode
