// Row-independent blocked products (see rows_matmul.h): tiles of weight rows over the pool (NF4 tiles decoded once per
// call by the variant into 64-byte aligned buffers, misaligned input rows copied to one once per call), each tile's
// products by the active ISA's variant (kernels/isa.h; rows_matmul_avx512.cc, rows_matmul_avx2.cc,
// rows_matmul_scalar.cc); the bf16 mode's by rows_matmul_avx512bf16.cc.
#include "decode/rows_matmul.h"
#include <algorithm>
#include <cstdint>
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

const RowsBf16Kernels* bf16_kernels() {
  if (kern::active_isa() == kern::Isa::Avx512 && kern::cpu_has_avx512bf16() && rows_bf16_kernels_avx512bf16.products)
    return &rows_bf16_kernels_avx512bf16;
  return nullptr;
}

constexpr int TILE = 16; // weight rows per task (multiple of 4; a 16 x 1536 fp32 tile is 96 KB)

// How a weight is cut into row tiles: NF4 tiles start on 64-weight block boundaries (TILE rows, or the frozen
// products' FROZEN_TILE_ROWS, doubled until a tile is whole blocks), with the view the variants decode from; q is
// null for fp32 / bf16 storage.
struct Nf4Tiles {
  const kern::NF4Tensor* q = nullptr;
  int tile_rows = TILE;
  kern::Nf4View view{};
};

Nf4Tiles nf4_tiles(const kern::FrozenLinear& W, int tile_rows = TILE) {
  Nf4Tiles t;
  t.tile_rows = tile_rows;
  if (W.storage() != kern::Storage::NF4) return t;
  t.q = &W.nf4_tensor();
  while (((size_t)t.tile_rows * W.in()) % kern::NF4_BLOCK != 0) t.tile_rows *= 2;
  t.view = kern::Nf4View{t.q->packed.data(), t.q->absmax_q.data(), t.q->absmax_scale.data(),
                         t.q->absmax_offset, kern::NF4_CODE,       t.q->rows,
                         t.q->cols};
  return t;
}

// n floats of buf from a 64-byte boundary (the vector loads of a tile's rows then never split a cache line where
// in % 16 == 0; malloc gives 16-byte alignment).
float* aligned64(std::vector<float>& buf, size_t n) {
  if (buf.size() < n + 15) buf.resize(n + 15);
  const uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - p % 64) % 64) / sizeof(float);
}

// The input rows from a 64-byte boundary: x itself when it starts on one, when rows of in floats cannot all start on
// one (in % 16 != 0) or when few outputs read them (a LoRA factor: the copy would cost more than it saves), else a
// copy made once per call on the calling thread (the pool's tasks read it through the pointer): a 512-row prompt's
// rows are read by every weight tile, each 64-byte load of them split over two cache lines when misaligned.
const float* aligned_rows(const float* x, int T, int in, int out) {
  if (reinterpret_cast<uintptr_t>(x) % 64 == 0 || in % 16 != 0 || out < 64) return x;
  thread_local std::vector<float> xa;
  float* p = aligned64(xa, (size_t)T * in);
  std::copy(x, x + (size_t)T * in, p);
  return p;
}

} // namespace

void rows_matmul_f32(const float* W, int out, int in, const float* x, int T, float* y) {
  if (T <= 0 || out <= 0) return;
  const RowsProducts products = kernels().products;
  x = aligned_rows(x, T, in, out);
  kern::parallel_for_dynamic((out + TILE - 1) / TILE, [&](int b, int e) {
    const int o0 = b * TILE, o1 = std::min(out, e * TILE);
    products(W + (size_t)o0 * in, o0, o1, in, x, T, y, out);
  });
}

bool rows_bf16_available() { return bf16_kernels() != nullptr; }

namespace {

// The input rows in bf16, once per call on the calling thread (the pool's tasks read them through the pointer).
const uint16_t* input_bf16(const RowsBf16Kernels& kb, const float* x, int T, int in) {
  thread_local std::vector<uint16_t> x16;
  const size_t n = (size_t)T * in;
  if (x16.size() < n) x16.resize(n);
  kb.convert(x, n, x16.data());
  return x16.data();
}

void rows_matmul_bf16_mode(const RowsBf16Kernels& kb, const kern::FrozenLinear& W, const float* x, int T, float* y) {
  const int out = W.out(), in = W.in();
  const uint16_t* x16 = input_bf16(kb, x, T, in);
  const Nf4Tiles nt = nf4_tiles(W);
  const kern::NF4Tensor* q = nt.q;
  const uint16_t* w16 = q ? nullptr : W.bf16_data(); // bf16 storage or the weight's bf16 copy, read in place
  const int tile_rows = nt.tile_rows;
  const kern::Nf4View& view = nt.view;
  kern::parallel_for_dynamic((out + tile_rows - 1) / tile_rows, [&](int b, int e) {
    thread_local std::vector<uint16_t> tile;
    thread_local std::vector<float> f32;
    for (int c = b; c < e; c++) {
      const int o0 = c * tile_rows, rows = std::min(tile_rows, out - o0);
      const uint16_t* w;
      if (q) {
        const size_t b0 = (size_t)o0 * in / kern::NF4_BLOCK,
                     nb = ((size_t)rows * in + kern::NF4_BLOCK - 1) / kern::NF4_BLOCK;
        if (tile.size() < nb * kern::NF4_BLOCK) tile.resize(nb * kern::NF4_BLOCK);
        kb.dequant(view, b0, nb, tile.data());
        w = tile.data();
      } else if (w16) {
        w = w16 + (size_t)o0 * in;
      } else { // fp32 without a bf16 copy: the tile rounded here
        const float* wf = W.rows_f32(o0, rows, f32);
        if (tile.size() < (size_t)rows * in) tile.resize((size_t)rows * in);
        kb.convert(wf, (size_t)rows * in, tile.data());
        w = tile.data();
      }
      kb.products(w, o0, o0 + rows, in, x16, T, y, out);
    }
  });
  W.add_bias_rows(y, T);
}

} // namespace

void rows_matmul_bf16(const uint16_t* W, int out, int in, const float* x, int T, float* y) {
  if (T <= 0 || out <= 0) return;
  const RowsBf16Kernels* kb = bf16_kernels();
  if (!kb) throw EngineError("E_INTERNAL", "decode rows_matmul_bf16: no AVX512-BF16 kernel on this CPU or build");
  const uint16_t* x16 = input_bf16(*kb, x, T, in);
  kern::parallel_for_dynamic((out + TILE - 1) / TILE, [&](int b, int e) {
    const int o0 = b * TILE, o1 = std::min(out, e * TILE);
    kb->products(W + (size_t)o0 * in, o0, o1, in, x16, T, y, out);
  });
}

void rows_matmul(const kern::FrozenLinear& W, const float* x, int T, float* y, bool bf16) {
  const int out = W.out(), in = W.in();
  if (T <= 0) return;
  if (bf16)
    if (const RowsBf16Kernels* kb = bf16_kernels()) return rows_matmul_bf16_mode(*kb, W, x, T, y);
  const RowsKernels& kr = kernels();
  const bool frozen = kern::active_isa() == kern::Isa::Avx512 && frozen_products_avx512_fn;
  x = aligned_rows(x, T, in, out);
  // NF4 weights with whole blocks per row: the tiles decoded from the interleaved codes (built here, on the calling
  // thread, before the region) as one FMA chain per output, the decode products' numbers.
  const FrozenNf4Products nf4_frozen = kern::active_isa() == kern::Isa::Avx512 ? frozen_products_nf4_avx512_fn
                                       : kern::active_isa() == kern::Isa::Avx2 ? frozen_products_nf4_avx2_fn
                                                                               : nullptr;
  if (nf4_frozen && W.storage() == kern::Storage::NF4 && in % kern::NF4_BLOCK == 0) {
    const kern::Nf4IView wi = W.nf4_interleaved().view();
    kern::parallel_for_dynamic((out + FROZEN_TILE_ROWS - 1) / FROZEN_TILE_ROWS, [&](int b, int e) {
      for (int c = b; c < e; c++)
        nf4_frozen(wi, c * FROZEN_TILE_ROWS, std::min(out, (c + 1) * FROZEN_TILE_ROWS), x, T, y, out);
    });
    W.add_bias_rows(y, T);
    return;
  }
  const RowsProducts products = frozen ? frozen_products_avx512_fn : kr.products;
  const Nf4Tiles nt = nf4_tiles(W, frozen ? FROZEN_TILE_ROWS : TILE);
  const kern::NF4Tensor* q = nt.q;
  const int tile_rows = nt.tile_rows;
  const kern::Nf4View& view = nt.view;
  kern::parallel_for_dynamic((out + tile_rows - 1) / tile_rows, [&](int b, int e) {
    thread_local std::vector<float> tile;
    for (int c = b; c < e; c++) {
      const int o0 = c * tile_rows, rows = std::min(tile_rows, out - o0);
      const float* w;
      if (q) { // the tile's whole blocks, decoded by the variant (rows * in is a multiple of 64 but for the last tile)
        const size_t b0 = (size_t)o0 * in / kern::NF4_BLOCK,
                     nb = ((size_t)rows * in + kern::NF4_BLOCK - 1) / kern::NF4_BLOCK;
        float* t = aligned64(tile, nb * kern::NF4_BLOCK);
        kr.dequant(view, b0, nb, t);
        w = t;
      } else {
        w = W.rows_f32(o0, rows, tile);
      }
      products(w, o0, o0 + rows, in, x, T, y, out);
    }
  });
  W.add_bias_rows(y, T);
}

} // namespace peft::decode
