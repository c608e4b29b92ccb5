// The per-ISA bodies of the decode GEMVs (nf4_gemv, gemv_rows_f32): each computes output rows [o0, o1) and is compiled
// in its own file with its own ISA flags (*_avx512.cc, *_avx2.cc without AVX-512, *_scalar.cc without AVX); the dispatcher splits
// rows over the pool. Plain pointers only: the variant files include no shared inline code that the linker could
// merge with a copy built for another ISA.
#pragma once
#include <cstddef>
#include <cstdint>

namespace peft::kern {

struct Nf4View {             // an NF4Tensor's storage (see nf4.h)
  const uint8_t* packed;     // two codes per byte, low nibble first
  const uint8_t* absmax_q;   // int8 per 64-weight block
  const float* absmax_scale; // one per 256 blocks
  float absmax_offset;
  const float* code; // NF4_CODE[16]
  int rows, cols;    // cols % 64 == 0
};

// y[t * rows + o] = sum_k W[o, k] x[t * cols + k] for o in [o0, o1), t < T (T <= 32).
using Nf4GemvRows = void (*)(const Nf4View& w, const float* x, int T, float* y, int o0, int o1);
// y[t * out + o] = sum_i W[o * in + i] x[t * in + i] for o in [o0, o1).
using GemvF32Rows = void (*)(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1);

void nf4_gemv_rows_scalar(const Nf4View& w, const float* x, int T, float* y, int o0, int o1);
void gemv_f32_rows_scalar(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1);
// Null when the build has no AVX2 / AVX-512 code (a non-x86 compiler).
extern const Nf4GemvRows nf4_gemv_rows_avx2;
extern const GemvF32Rows gemv_f32_rows_avx2;
extern const Nf4GemvRows nf4_gemv_rows_avx512;
extern const GemvF32Rows gemv_f32_rows_avx512;

// An NF4 weight in the interleaved decode layout (nf4_interleaved.h): the codes of inputs 2p and 2p + 1 of row
// 16 g + j in byte (g * cols / 2 + p) * 16 + j (low nibble first), block b's decoded absmax of that row at
// scales[(g * cols / 64 + b) * 16 + j]; rows past `rows` in the last group coded 0 with absmax 0.
struct Nf4IView {
  const uint8_t* codes;
  const float* scales;
  const float* code; // NF4_CODE[16]
  int rows, cols;    // cols % 64 == 0
};
// y[t * ldy + o] for o in [o0, o1) (o0 a multiple of 16), t < T (T <= 32): one fp32 FMA chain per output over the
// inputs in order from zero, s = fma(x[t, k], code[c(o, k)] * absmax(o, k / 64), s), the input rows given both as
// they are (x [T, in]) and transposed (xt [in, T]). A body reads xt below its nf4i_x_rows_* rows and x from there
// (the caller then need not transpose: decode_prepare_nf4); with one row the two are the same. Every variant computes exactly these operations, so all give the same bits, a row's result
// never depends on T or on the other rows, and they equal decode/rows_matmul's frozen tile products (the same chain
// over the same dequantized weights).
using Nf4InterleavedRows = void (*)(const Nf4IView& w, const float* x, const float* xt, int T, float* y, int ldy,
                                    int o0, int o1);
void nf4i_rows_scalar(const Nf4IView& w, const float* x, const float* xt, int T, float* y, int ldy, int o0, int o1);
extern const Nf4InterleavedRows nf4i_rows_avx2;   // null without AVX2 code in the build
extern const Nf4InterleavedRows nf4i_rows_avx512; // null without AVX-512 code in the build
// The rows from which each body reads x instead of xt (the scalar body always reads x, the AVX2 one never).
constexpr int NF4I_X_ROWS_NEVER = 33; // past the most rows a decode product takes (32)
constexpr int nf4i_x_rows_scalar = 1;
extern const int nf4i_x_rows_avx2, nf4i_x_rows_avx512;

// Absmax of block b after double-quant decoding (the formula of nf4.cc). static: each variant file keeps its own copy.
static inline float nf4_view_absmax(const Nf4View& w, size_t b) {
  const float a = w.absmax_offset + (float)(int8_t)w.absmax_q[b] * w.absmax_scale[b / 256];
  return a > 0.f ? a : 0.f;
}

} // namespace peft::kern
