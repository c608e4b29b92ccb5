// Row-independent blocked products (see rows_matmul.h) and their dispatch over the ISA variants (kernels/isa.h:
// avx512 here, avx2 / scalar in rows_matmul_avx2.cc / rows_matmul_scalar.cc). The AVX-512 body: a 4x4 register block
// of (row, output) accumulators, the inputs in 16-lane steps (the last step masked), a fixed lane reduction per pair;
// the first row block of each weight block prefetches the next one (the fp32 lm_head is streamed from memory).
#include "decode/rows_matmul.h"
#include <algorithm>
#include <string>
#include <vector>
#include "decode/rows_variants.h"
#include "error.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#include <cstring>
#define PEFT_ROWS_AVX512 1
#endif

namespace peft::decode {

namespace {

#ifdef PEFT_ROWS_AVX512
// y[t, o0 + j] for rows t0..t0+MT-1 and j < MO (weight row o0 + j at W + j * in, x rows at x + t * in); pf: the next
// weight block to prefetch (or null).
template <int MT, int MO>
inline void block(const float* W, const float* x, int in, int t0, int o0, float* y, int ldy, const float* pf) {
  __m512 acc[MT][MO];
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) acc[i][j] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 16 <= in; k += 16) {
    if (pf)
      for (int j = 0; j < MO; j++) _mm_prefetch((const char*)(pf + (size_t)j * in + k), _MM_HINT_T0);
    __m512 w[MO];
    for (int j = 0; j < MO; j++) w[j] = _mm512_loadu_ps(W + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m512 xv = _mm512_loadu_ps(x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  if (k < in) {
    const __mmask16 m = (__mmask16)((1u << (in - k)) - 1);
    __m512 w[MO];
    for (int j = 0; j < MO; j++) w[j] = _mm512_maskz_loadu_ps(m, W + (size_t)j * in + k);
    for (int i = 0; i < MT; i++) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)(t0 + i) * in + k);
      for (int j = 0; j < MO; j++) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < MT; i++)
    for (int j = 0; j < MO; j++) y[(size_t)(t0 + i) * ldy + o0 + j] = _mm512_reduce_add_ps(acc[i][j]);
}

template <int MO>
inline void rows_block(const float* W, const float* x, int in, int T, int o0, float* y, int ldy, const float* pf) {
  int t = 0;
  for (; t + 4 <= T; t += 4, pf = nullptr) block<4, MO>(W, x, in, t, o0, y, ldy, pf);
  switch (T - t) {
    case 3: block<3, MO>(W, x, in, t, o0, y, ldy, pf); break;
    case 2: block<2, MO>(W, x, in, t, o0, y, ldy, pf); break;
    case 1: block<1, MO>(W, x, in, t, o0, y, ldy, pf); break;
    default: break;
  }
}

void products_avx512(const float* W, int o0, int o1, int in, const float* x, int T, float* y, int ldy) {
  int o = o0;
  for (; o + 4 <= o1; o += 4) {
    const float* w = W + (size_t)(o - o0) * in;
    rows_block<4>(w, x, in, T, o, y, ldy, o + 8 <= o1 ? w + (size_t)4 * in : nullptr);
  }
  const float* w = W + (size_t)(o - o0) * in;
  switch (o1 - o) {
    case 3: rows_block<3>(w, x, in, T, o, y, ldy, nullptr); break;
    case 2: rows_block<2>(w, x, in, T, o, y, ldy, nullptr); break;
    case 1: rows_block<1>(w, x, in, T, o, y, ldy, nullptr); break;
    default: break;
  }
}

// 16 codes (8 packed bytes, low nibble first) -> 16 code indices as int32 lanes, in element order.
inline __m512i unpack16(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  const __m128i b = _mm_cvtsi64_si128((long long)v);
  const __m128i lo = _mm_and_si128(b, _mm_set1_epi8(0x0F)),
                hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0x0F));
  return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
}

void dequant_avx512(const kern::Nf4View& w, size_t b0, size_t nb, float* out) {
  const __m512 table = _mm512_loadu_ps(w.code);
  for (size_t b = 0; b < nb; b++) {
    const uint8_t* p = w.packed + (b0 + b) * 32;
    const __m512 va = _mm512_set1_ps(kern::nf4_view_absmax(w, b0 + b));
    for (int q = 0; q < 4; q++)
      _mm512_storeu_ps(out + b * 64 + 16 * q, _mm512_mul_ps(_mm512_permutexvar_ps(unpack16(p + 8 * q), table), va));
  }
}

const RowsKernels rows_kernels_avx512{products_avx512, dequant_avx512};
#endif

const RowsKernels& kernels() {
  switch (kern::active_isa()) { // isa.cc only picks a variant the CPU can run and this build has
#ifdef PEFT_ROWS_AVX512
    case kern::Isa::Avx512: return rows_kernels_avx512;
#endif
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
