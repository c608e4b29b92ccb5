// Builds the interleaved decode layout of an NF4 weight (nf4_interleaved.h): a byte transpose of the packed codes by
// groups of 16 rows, and the blocks' absmax decoded as the dequantizer decodes them (nf4_block_absmax).
#include "kernels/nf4_interleaved.h"
#include <algorithm>
#include "error.h"
#include "kernels/kernels.h"

namespace peft::kern {

Nf4Interleaved nf4_interleave(const NF4Tensor& t) {
  if (t.cols % NF4_BLOCK != 0)
    throw EngineError("E_INTERNAL", "nf4_interleave: the weight's rows are not whole 64-weight blocks");
  Nf4Interleaved w;
  w.rows = t.rows;
  w.cols = t.cols;
  const int groups = (t.rows + 15) / 16, half = t.cols / 2, nb = t.cols / NF4_BLOCK;
  w.codes.assign((size_t)groups * half * 16, 0);
  w.scales.assign((size_t)groups * nb * 16, 0.f);
  parallel_for(groups, [&](int g0, int g1) {
    for (int g = g0; g < g1; g++)
      for (int j = 0; j < 16 && 16 * g + j < t.rows; j++) {
        const size_t o = (size_t)16 * g + j;
        const uint8_t* src = t.packed.data() + o * half; // row o's codes: inputs 2p, 2p + 1 in byte p
        uint8_t* dst = w.codes.data() + (size_t)g * half * 16 + j;
        for (int p = 0; p < half; p++) dst[(size_t)p * 16] = src[p];
        float* s = w.scales.data() + (size_t)g * nb * 16 + j;
        for (int b = 0; b < nb; b++) s[(size_t)b * 16] = nf4_block_absmax(t, o * nb + b);
      }
  });
  return w;
}

} // namespace peft::kern
