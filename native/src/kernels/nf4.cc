// NF4 quantization (QLoRA): 4-bit codes from the paper's code book, absmax per 64 weights, and double quantization
// of the absmax constants: the global mean is subtracted and the rest is quantized to int8, symmetric and linear,
// with one fp32 scale per 256 constants (bitsandbytes uses its dynamic 8-bit map here; the linear map has the
// tighter worst case: |absmax - decoded| <= scale/254 where scale = max|absmax - mean| over its 256-block).
// Weights are coded against the *decoded* absmax, so the error bound per weight is
// |w - w'| <= absmax' * maxgap/2 + |absmax - absmax'|  with maxgap = 0.3038 (between -1 and -0.6962).
// Dequantization to fp32 and bf16 is vectorised with AVX-512 (a 16-entry permute as the code-book lookup).
#include <algorithm>
#include <cmath>
#include <cstring>
#include "error.h"
#include "kernels/bf16_inline.h"
#include "kernels/gemv_variants.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/nf4.h"
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define PEFT_NF4_AVX512 1
#endif

namespace peft::kern {

const float NF4_CODE[16] = {-1.0f,
                            -0.6961928009986877f,
                            -0.5250730514526367f,
                            -0.39491748809814453f,
                            -0.28444138169288635f,
                            -0.18477343022823334f,
                            -0.09105003625154495f,
                            0.0f,
                            0.07958029955625534f,
                            0.16093020141124725f,
                            0.24611230194568634f,
                            0.33791524171829224f,
                            0.44070982933044434f,
                            0.5626170039176941f,
                            0.7229568362236023f,
                            1.0f};

size_t NF4Tensor::bytes() const {
  return packed.size() + absmax_q.size() + absmax_scale.size() * sizeof(float) + sizeof(absmax_offset);
}

namespace {

// Index of the nearest code to v in [-1, 1] (ties go to the larger code), by the midpoints between codes.
inline uint8_t nearest_code(float v) {
  static const float mid[15] = {
      (NF4_CODE[0] + NF4_CODE[1]) / 2,   (NF4_CODE[1] + NF4_CODE[2]) / 2,   (NF4_CODE[2] + NF4_CODE[3]) / 2,
      (NF4_CODE[3] + NF4_CODE[4]) / 2,   (NF4_CODE[4] + NF4_CODE[5]) / 2,   (NF4_CODE[5] + NF4_CODE[6]) / 2,
      (NF4_CODE[6] + NF4_CODE[7]) / 2,   (NF4_CODE[7] + NF4_CODE[8]) / 2,   (NF4_CODE[8] + NF4_CODE[9]) / 2,
      (NF4_CODE[9] + NF4_CODE[10]) / 2,  (NF4_CODE[10] + NF4_CODE[11]) / 2, (NF4_CODE[11] + NF4_CODE[12]) / 2,
      (NF4_CODE[12] + NF4_CODE[13]) / 2, (NF4_CODE[13] + NF4_CODE[14]) / 2, (NF4_CODE[14] + NF4_CODE[15]) / 2};
  uint8_t c = 0;
  for (int i = 0; i < 15; i++) c += v >= mid[i];
  return c;
}

inline float decode_absmax(const NF4Tensor& t, size_t block) {
  const float q = (float)(int8_t)t.absmax_q[block];
  const float a = t.absmax_offset + q * t.absmax_scale[block / NF4_DQ_BLOCK];
  return a > 0.f ? a : 0.f;
}

} // namespace

float nf4_block_absmax(const NF4Tensor& t, size_t block) { return decode_absmax(t, block); }

void nf4_quantize(const float* w, int rows, int cols, NF4Tensor& out) {
  if (rows <= 0 || cols <= 0) throw EngineError("E_ENGINE", "nf4_quantize: rows and cols must be positive");
  const size_t n = (size_t)rows * cols;
  if (n % NF4_BLOCK != 0)
    throw EngineError("E_ENGINE",
                      "nf4_quantize: rows*cols = " + std::to_string(n) + " is not a multiple of the NF4 block size 64");
  for (size_t i = 0; i < n; i++)
    if (!std::isfinite(w[i]))
      throw EngineError("E_ENGINE", "nf4_quantize: weight " + std::to_string(i) + " is not finite");
  const size_t nb = n / NF4_BLOCK, nsb = (nb + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK;
  out.rows = rows;
  out.cols = cols;
  out.packed.assign(n / 2, 0);
  out.absmax_q.assign(nb, 0);
  out.absmax_scale.assign(nsb, 0.f);
  // 1. absmax per 64-block, and their mean (in double, so the order of summation does not matter much).
  std::vector<float> am(nb);
  parallel_for((int)std::min<size_t>(nb, 1u << 30), [&](int b, int e) {
    for (int blk = b; blk < e; blk++) {
      float m = 0.f;
      const float* x = w + (size_t)blk * NF4_BLOCK;
      for (int i = 0; i < NF4_BLOCK; i++) m = std::max(m, std::fabs(x[i]));
      am[blk] = m;
    }
  });
  double sum = 0;
  for (size_t b = 0; b < nb; b++) sum += am[b];
  out.absmax_offset = (float)(sum / (double)nb);
  // 2. double quantization: (absmax - mean) to int8 with one scale per 256 constants.
  for (size_t s = 0; s < nsb; s++) {
    const size_t b0 = s * NF4_DQ_BLOCK, b1 = std::min(nb, b0 + NF4_DQ_BLOCK);
    float m = 0.f;
    for (size_t b = b0; b < b1; b++) m = std::max(m, std::fabs(am[b] - out.absmax_offset));
    const float scale = m / 127.f;
    out.absmax_scale[s] = scale;
    for (size_t b = b0; b < b1; b++) {
      const float q = scale > 0.f ? std::nearbyint((am[b] - out.absmax_offset) / scale) : 0.f;
      out.absmax_q[b] = (uint8_t)(int8_t)std::max(-127.f, std::min(127.f, q));
    }
  }
  // 3. codes against the decoded absmax.
  parallel_for((int)nb, [&](int b, int e) {
    for (int blk = b; blk < e; blk++) {
      const float a = decode_absmax(out, blk);
      const float inv = a > 0.f ? 1.f / a : 0.f;
      const float* x = w + (size_t)blk * NF4_BLOCK;
      uint8_t* p = out.packed.data() + (size_t)blk * (NF4_BLOCK / 2);
      for (int i = 0; i < NF4_BLOCK; i += 2) {
        const float v0 = std::max(-1.f, std::min(1.f, x[i] * inv)), v1 = std::max(-1.f, std::min(1.f, x[i + 1] * inv));
        p[i / 2] = (uint8_t)(nearest_code(v0) | (nearest_code(v1) << 4));
      }
    }
  });
}

namespace {

#ifdef PEFT_NF4_AVX512
// 16 codes (8 packed bytes, low nibble first) -> 16 code indices as int32 lanes, in element order.
inline __m512i unpack16(const uint8_t* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  const __m128i v = _mm_cvtsi64_si128((long long)x);
  const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x0F));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F));
  return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
}
#endif

// One 64-weight block to fp32.
inline void block_f32(const uint8_t* p, float a, float* out) {
#ifdef PEFT_NF4_AVX512
  const __m512 table = _mm512_loadu_ps(NF4_CODE), va = _mm512_set1_ps(a);
  for (int i = 0; i < NF4_BLOCK; i += 16)
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_permutexvar_ps(unpack16(p + i / 2), table), va));
#else
  for (int i = 0; i < NF4_BLOCK / 2; i++) {
    out[2 * i] = NF4_CODE[p[i] & 15] * a;
    out[2 * i + 1] = NF4_CODE[p[i] >> 4] * a;
  }
#endif
}

// One 64-weight block to bf16 (round to nearest even of the fp32 product, as f32_to_bf16 would).
inline void block_bf16(const uint8_t* p, float a, uint16_t* out) {
#if defined(PEFT_NF4_AVX512) && defined(__AVX512BF16__)
  const __m512 table = _mm512_loadu_ps(NF4_CODE), va = _mm512_set1_ps(a);
  for (int i = 0; i < NF4_BLOCK; i += 32) {
    const __m512 x0 = _mm512_mul_ps(_mm512_permutexvar_ps(unpack16(p + i / 2), table), va);
    const __m512 x1 = _mm512_mul_ps(_mm512_permutexvar_ps(unpack16(p + i / 2 + 8), table), va);
    _mm512_storeu_si512(out + i, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
  }
#else
  float tmp[NF4_BLOCK];
  block_f32(p, a, tmp);
  for (int i = 0; i < NF4_BLOCK; i++) out[i] = f32_to_bf16_one(tmp[i]);
#endif
}

void check_rows(const NF4Tensor& t, int row0, int nrows) {
  if (row0 < 0 || nrows < 0 || row0 + nrows > t.rows)
    throw EngineError("E_ENGINE", "nf4_dequantize: rows [" + std::to_string(row0) + ", " +
                                      std::to_string(row0 + nrows) + ") outside the tensor's " +
                                      std::to_string(t.rows) + " rows");
  if (((size_t)row0 * t.cols) % NF4_BLOCK != 0 || ((size_t)(row0 + nrows) * t.cols) % NF4_BLOCK != 0)
    throw EngineError("E_ENGINE", "nf4_dequantize: the row range must start and end on a 64-weight block boundary");
}

// Rows [row0, row0 + nrows) into out, rows ld values apart (ld == cols: compact, blocks may straddle rows; a wider
// ld needs whole blocks per row).
template <typename T, void (*BLOCK)(const uint8_t*, float, T*)>
void dequantize_rows(const NF4Tensor& t, int row0, int nrows, T* out, size_t ld) {
  check_rows(t, row0, nrows);
  const size_t b0 = (size_t)row0 * t.cols / NF4_BLOCK, nb = (size_t)nrows * t.cols / NF4_BLOCK;
  const size_t per_row = ld == (size_t)t.cols ? nb + 1 : (size_t)t.cols / NF4_BLOCK; // compact: one long "row"
  if (nb == 0) return;
  // Serial inside a parallel_for; otherwise split across the pool in chunks of >= 64 blocks.
  const int chunks = (int)std::max<size_t>(1, nb / 64);
  parallel_for(chunks, [&](int cb, int ce) {
    const size_t bb = nb * cb / chunks, be = nb * ce / chunks;
    for (size_t b = bb; b < be; b++) {
      const size_t blk = b0 + b;
      const uint8_t* p = t.packed.data() + blk * (NF4_BLOCK / 2);
      BLOCK(p, decode_absmax(t, blk), out + (b / per_row) * ld + (b % per_row) * NF4_BLOCK);
    }
  });
}

} // namespace

void nf4_dequantize_bf16_ld(const NF4Tensor& t, int row0, int nrows, uint16_t* out, size_t ld) {
  if (ld == (size_t)t.cols) return nf4_dequantize_bf16(t, row0, nrows, out);
  check_rows(t, row0, nrows);
  if (ld < (size_t)t.cols) throw EngineError("E_ENGINE", "nf4_dequantize_bf16_ld: row stride below the row length");
  if (t.cols % NF4_BLOCK != 0) { // blocks straddle rows: dequantize compactly, then place the rows
    std::vector<uint16_t> tmp((size_t)nrows * t.cols);
    nf4_dequantize_bf16(t, row0, nrows, tmp.data());
    for (int r = 0; r < nrows; r++) std::memcpy(out + r * ld, tmp.data() + (size_t)r * t.cols, (size_t)t.cols * 2);
    return;
  }
  dequantize_rows<uint16_t, block_bf16>(t, row0, nrows, out, ld);
}

bool nf4_gemv_supported(const NF4Tensor& t) { return t.cols % NF4_BLOCK == 0; }

namespace {

#ifdef PEFT_NF4_AVX512
// The AVX-512 body of nf4_gemv for output rows [o0, o1): each block decoded once in registers (a 16-entry permute).
void nf4_gemv_rows_avx512(const Nf4View& w, const float* x, int T, float* y, int o0, int o1) {
  const int cols = w.cols, per_row = cols / NF4_BLOCK;
  const __m512 table = _mm512_loadu_ps(w.code);
  for (int o = o0; o < o1; o++) {
    __m512 acc[NF4_GEMV_MAX_ROWS];
    for (int i = 0; i < T; i++) acc[i] = _mm512_setzero_ps();
    for (int b = 0; b < per_row; b++) {
      const size_t blk = (size_t)o * per_row + b;
      const uint8_t* p = w.packed + blk * (NF4_BLOCK / 2);
      const __m512 va = _mm512_set1_ps(nf4_view_absmax(w, blk));
      __m512 wv[4];
      for (int q = 0; q < 4; q++) wv[q] = _mm512_mul_ps(_mm512_permutexvar_ps(unpack16(p + q * 8), table), va);
      const float* xb = x + (size_t)b * NF4_BLOCK;
      for (int i = 0; i < T; i++) {
        const float* xr = xb + (size_t)i * cols;
        __m512 a = acc[i];
        for (int q = 0; q < 4; q++) a = _mm512_fmadd_ps(wv[q], _mm512_loadu_ps(xr + 16 * q), a);
        acc[i] = a;
      }
    }
    for (int i = 0; i < T; i++) y[(size_t)i * w.rows + o] = _mm512_reduce_add_ps(acc[i]);
  }
}
#endif

Nf4GemvRows nf4_gemv_body(Isa isa) {
  switch (isa) {
#ifdef PEFT_NF4_AVX512
    case Isa::Avx512: return nf4_gemv_rows_avx512;
#endif
    case Isa::Avx2: return nf4_gemv_rows_avx2;
    case Isa::Scalar: return nf4_gemv_rows_scalar;
    default: throw EngineError("E_ENGINE", "nf4_gemv: no kernel for ISA " + std::string(isa_name(isa)));
  }
}

} // namespace

void nf4_gemv(const NF4Tensor& t, const float* x, int T, float* y) {
  if (!nf4_gemv_supported(t)) throw EngineError("E_ENGINE", "nf4_gemv: the row length must be a multiple of 64");
  if (T < 1 || T > NF4_GEMV_MAX_ROWS) throw EngineError("E_ENGINE", "nf4_gemv: T must be in [1, 32]");
  const Nf4GemvRows body = nf4_gemv_body(active_isa()); // isa.cc only picks variants this build has
  const Nf4View w{t.packed.data(), t.absmax_q.data(), t.absmax_scale.data(), t.absmax_offset, NF4_CODE, t.rows, t.cols};
  // Output rows in chunks of 16 per task: each weight block is decoded once, in registers, and used for all T inputs.
  const int rows = t.rows, chunks = (rows + 15) / 16;
  parallel_for(chunks, [&](int cb, int ce) { body(w, x, T, y, cb * 16, std::min(rows, ce * 16)); });
}

void nf4_dequantize_f32(const NF4Tensor& t, int row0, int nrows, float* out) {
  dequantize_rows<float, block_f32>(t, row0, nrows, out, (size_t)t.cols);
}

void nf4_dequantize_bf16(const NF4Tensor& t, int row0, int nrows, uint16_t* out) {
  dequantize_rows<uint16_t, block_bf16>(t, row0, nrows, out, (size_t)t.cols);
}

} // namespace peft::kern
