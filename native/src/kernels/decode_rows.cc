// Dispatch of the decode products (decode_rows.h) to the active ISA's bodies: AVX-512 (decode_rows_avx512.cc,
// nf4_interleaved_avx512.cc), AVX2 + FMA (decode_rows_avx2.cc, nf4_interleaved_avx2.cc) or the portable scalar ones
// (gemv_scalar.cc, nf4_interleaved_scalar.cc), which are row-independent as well.
#include "kernels/decode_rows.h"
#include <algorithm>
#include <string>
#include "error.h"
#include "kernels/gemv_variants.h"
#include "kernels/isa.h"

namespace peft::kern {

// Defined in the per-ISA files; null where the build has no such code.
extern const GemvF32Rows decode_f32_rows_avx512;
extern const GemvF32Rows decode_f32_rows_avx2;
extern const DecodeBf16Rows decode_bf16_rows_avx512;
extern const DecodeBf16Rows decode_bf16_rows_avx2;
void decode_bf16_rows_scalar(const uint16_t* W, int out, int in, const float* x, int T, float* y, int o0, int o1);

namespace {

struct Bodies {
  Nf4InterleavedRows nf4;
  int nf4_x_rows; // from this many rows the NF4 body reads the input as it is, not transposed
  GemvF32Rows f32;
  DecodeBf16Rows bf16;
  int group; // bf16 input order: evens then odds in groups of this many (0: as it is)
};

Bodies bodies() {
  const Isa isa = active_isa();
  Bodies b{nf4i_rows_scalar, nf4i_x_rows_scalar, gemv_f32_rows_scalar, decode_bf16_rows_scalar, 0};
  if (isa == Isa::Avx512 && nf4i_rows_avx512 && decode_f32_rows_avx512)
    b = {nf4i_rows_avx512, nf4i_x_rows_avx512, decode_f32_rows_avx512, decode_bf16_rows_avx512, 32};
  if (isa == Isa::Avx2 && nf4i_rows_avx2 && decode_f32_rows_avx2)
    b = {nf4i_rows_avx2, nf4i_x_rows_avx2, decode_f32_rows_avx2, decode_bf16_rows_avx2, 16};
  if (isa != Isa::Scalar && b.nf4 == nf4i_rows_scalar)
    throw EngineError("E_ENGINE", std::string("decode_rows: this build has no ") + isa_name(isa) +
                                      " decode kernels (set PEFT_ISA=scalar, or rebuild with npm run build:native)");
  return b;
}

} // namespace

const float* decode_prepare_nf4(const float* x, int T, int in, std::vector<float>& xt) {
  if (T == 1 || T >= bodies().nf4_x_rows) return x; // one row is its own transpose; the body reads x from there
  if (xt.size() < (size_t)T * in) xt.resize((size_t)T * in);
  for (int t = 0; t < T; t++)
    for (int k = 0; k < in; k++) xt[(size_t)k * T + t] = x[(size_t)t * in + k];
  return xt.data();
}

void decode_prepare_bf16(const float* x, int T, int in, std::vector<float>& xn) {
  const size_t n = (size_t)T * in;
  if (xn.size() < n) xn.resize(n);
  const int g = bodies().group;
  if (g == 0 || in % g != 0) {
    std::copy(x, x + n, xn.data());
    return;
  }
  for (size_t i0 = 0; i0 < n; i0 += g)
    for (int j = 0; j < g / 2; j++) {
      xn[i0 + j] = x[i0 + 2 * j];
      xn[i0 + g / 2 + j] = x[i0 + 2 * j + 1];
    }
}

bool decode_rows_supported(const FrozenLinear& w) {
  if (w.storage() == Storage::F32) return w.f32_data() != nullptr;
  if (w.storage() == Storage::BF16) return w.bf16_data() != nullptr;
  return w.storage() == Storage::NF4 && w.in() % NF4_BLOCK == 0;
}

void decode_rows(const FrozenLinear& w, const float* x, const float* xn, int T, float* y, int o0, int o1, bool bf16) {
  if (o1 <= o0) return;
  const Bodies b = bodies();
  if ((bf16 || w.storage() == Storage::BF16) && w.storage() != Storage::NF4 && w.bf16_data()) {
    const bool vec = b.group && w.in() % b.group == 0;
    if (vec && !xn) throw EngineError("E_INTERNAL", "decode_rows: a bf16 weight needs the prepared input");
    (vec ? b.bf16 : decode_bf16_rows_scalar)(w.bf16_data(), w.out(), w.in(), vec ? xn : x, T, y, o0, o1);
  } else if (w.storage() == Storage::F32) {
    b.f32(w.f32_data(), w.out(), w.in(), x, T, y, o0, o1);
  } else if (w.storage() == Storage::NF4 && w.in() % NF4_BLOCK == 0) {
    if (!xn) throw EngineError("E_INTERNAL", "decode_rows: an NF4 weight needs the prepared input");
    if (o0 % 16 != 0) throw EngineError("E_INTERNAL", "decode_rows: NF4 output ranges start on a group of 16");
    b.nf4(w.nf4_interleaved().view(), x, xn, T, y, w.out(), o0, o1);
  } else {
    throw EngineError("E_ENGINE",
                      "decode_rows: the weight is neither fp32, bf16 (with bf16 compute) nor NF4 with "
                      "whole blocks per row");
  }
  if (const float* bias = w.bias_data())
    for (int t = 0; t < T; t++)
      for (int o = o0; o < o1; o++) y[(size_t)t * w.out() + o] += bias[o];
}

void decode_rows_f32(const float* W, int out, int in, const float* x, int T, float* y, int o0, int o1) {
  if (o1 > o0) bodies().f32(W, out, in, x, T, y, o0, o1);
}

} // namespace peft::kern

namespace peft::kern {
void decode_rows_bf16(const uint16_t* W, int out, int in, const float* x, const float* xn, int T, float* y, int o0,
                      int o1) {
  if (o1 <= o0) return;
  const Bodies b = bodies();
  const bool vec = b.group && in % b.group == 0;
  if (vec && !xn) throw EngineError("E_INTERNAL", "decode_rows_bf16: the vector bodies need the prepared input");
  (vec ? b.bf16 : decode_bf16_rows_scalar)(W, out, in, vec ? xn : x, T, y, o0, o1);
}
} // namespace peft::kern
