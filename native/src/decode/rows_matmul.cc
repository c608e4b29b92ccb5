// Row-independent blocked products (see rows_matmul.h): tiles of weight rows over the pool (NF4 tiles decoded once per
// call by the variant), each tile's products by the active ISA's variant (kernels/isa.h; rows_matmul_avx512.cc,
// rows_matmul_avx2.cc, rows_matmul_scalar.cc).
#include "decode/rows_matmul.h"
#include <algorithm>
#include <string>
#include <vector>
#include "decode/rows_variants.h"
#include "error.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"

namespace peft::decode {

namespace {

const RowsKernels& kernels() {
  switch (kern::active_isa()) { // isa.cc only picks a variant the CPU can run and this build has
    case kern::Isa::Avx512:
      if (rows_kernels_avx512.products) return rows_kernels_avx512;
      break;
    case kern::Isa::Avx2:
      if (rows_kernels_avx2.products) return rows_kernels_avx2;
      break;
    case kern::Isa::Scalar: return rows_kernels_scalar;
    default: break;
  }
  throw EngineError("E_ENGINE",
                    std::string("decode rows_matmul: no kernel for ISA ") + kern::isa_name(kern::active_isa()));
}

constexpr int TILE = 16; // weight rows per task (multiple of 4; a 16 x 1536 fp32 tile is 96 KB)

} // namespace

void rows_matmul_f32(const float* W, int out, int in, const float* x, int T, float* y) {
  if (T <= 0 || out <= 0) return;
  const RowsProducts products = kernels().products;
  kern::parallel_for((out + TILE - 1) / TILE, [&](int b, int e) {
    const int o0 = b * TILE, o1 = std::min(out, e * TILE);
    products(W + (size_t)o0 * in, o0, o1, in, x, T, y, out);
  });
}

void rows_matmul(const kern::FrozenLinear& W, const float* x, int T, float* y) {
  const int out = W.out(), in = W.in();
  if (T <= 0) return;
  const RowsKernels& kr = kernels();
  const kern::NF4Tensor* q = W.storage() == kern::Storage::NF4 ? &W.nf4_tensor() : nullptr;
  int tile_rows = TILE; // NF4 tiles start on 64-weight block boundaries
  while (q && ((size_t)tile_rows * in) % kern::NF4_BLOCK != 0) tile_rows *= 2;
  kern::Nf4View view{};
  if (q)
    view = kern::Nf4View{q->packed.data(), q->absmax_q.data(), q->absmax_scale.data(),
                         q->absmax_offset, kern::NF4_CODE,     q->rows,
                         q->cols};
  kern::parallel_for((out + tile_rows - 1) / tile_rows, [&](int b, int e) {
    thread_local std::vector<float> tile;
    for (int c = b; c < e; c++) {
      const int o0 = c * tile_rows, rows = std::min(tile_rows, out - o0);
      const float* w;
      if (q) { // the tile's whole blocks, decoded by the variant (rows * in is a multiple of 64 but for the last tile)
        const size_t b0 = (size_t)o0 * in / kern::NF4_BLOCK,
                     nb = ((size_t)rows * in + kern::NF4_BLOCK - 1) / kern::NF4_BLOCK;
        if (tile.size() < nb * kern::NF4_BLOCK) tile.resize(nb * kern::NF4_BLOCK);
        kr.dequant(view, b0, nb, tile.data());
        w = tile.data();
      } else {
        w = W.rows_f32(o0, rows, tile);
      }
      kr.products(w, o0, o0 + rows, in, x, T, y, out);
    }
  });
  W.add_bias_rows(y, T);
}

} // namespace peft::decode
