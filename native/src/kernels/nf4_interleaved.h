// The decode layout of an NF4 weight: its codes interleaved by groups of 16 output rows, so that one 16-byte load
// holds two consecutive inputs' codes of 16 outputs, and each block's decoded absmax stored per (group, block) as 16
// floats. The decode products (decode_rows.h) run over it as one FMA chain per output (gemv_variants.h,
// Nf4InterleavedRows): no lane reduction, no transpose. Built from the NF4 tensor once, the first time a weight is
// decoded (FrozenLinear::nf4_interleaved); the same size again as the packed codes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>
#include "kernels/gemv_variants.h"
#include "kernels/nf4.h"

namespace peft::kern {

struct Nf4Interleaved {
  std::vector<uint8_t> codes; // [groups, cols / 2, 16]
  std::vector<float> scales;  // [groups, cols / 64, 16]
  int rows = 0, cols = 0;
  Nf4IView view() const { return Nf4IView{codes.data(), scales.data(), NF4_CODE, rows, cols}; }
  size_t bytes() const { return codes.size() + scales.size() * sizeof(float); }
};

// t's codes and decoded absmax in the interleaved layout (t.cols % 64 == 0); rows past the last group's end are
// coded 0 with absmax 0. On the pool.
Nf4Interleaved nf4_interleave(const NF4Tensor& t);

} // namespace peft::kern
