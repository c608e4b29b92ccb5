// NF4 quantization (QLoRA): 4-bit codes from the paper's code book, absmax per 64 weights, and double quantization
// of the absmax constants: the global mean is subtracted and the rest is quantized to int8, symmetric and linear,
// with one fp32 scale per 256 constants (bitsandbytes uses its dynamic 8-bit map here; the linear map has the
// tighter worst case: |absmax - decoded| <= scale/254 where scale = max|absmax - mean| over its 256-block).
// Weights are coded against the *decoded* absmax, so the error bound per weight is
// |w - w'| <= absmax' * maxgap/2 + |absmax - absmax'|  with maxgap = 0.3038 (between -1 and -0.6962).
// Dequantization to fp32 / bf16 and the decode GEMV run the active ISA's bodies (kernels/simd.h).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include "error.h"
#include "kernels/kernels.h"
#include "kernels/nf4.h"
#include "kernels/simd.h"

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

namespace {

// The quantiser over any source: load(blk, x) fills x[0..64) with block blk as fp32. Three passes: absmax per block
// (and the first non-finite weight) on the pool, the double quantization of the absmax constants (serial, in block
// order: the mean is the same bits whatever the source), and the codes per block on the pool. A block is widened
// into registers / the stack only, so a bf16 source (a mapped checkpoint) never has an fp32 copy.
template <typename Load>
void quantize_blocks(int rows, int cols, NF4Tensor& out, const Load& load) {
  if (rows <= 0 || cols <= 0) throw EngineError("E_ENGINE", "nf4_quantize: rows and cols must be positive");
  const size_t n = (size_t)rows * cols;
  if (n % NF4_BLOCK != 0)
    throw EngineError("E_ENGINE",
                      "nf4_quantize: rows*cols = " + std::to_string(n) + " is not a multiple of the NF4 block size 64");
  const size_t nb = n / NF4_BLOCK, nsb = (nb + NF4_DQ_BLOCK - 1) / NF4_DQ_BLOCK;
  out.rows = rows;
  out.cols = cols;
  out.packed.assign(n / 2, 0);
  out.absmax_q.assign(nb, 0);
  out.absmax_scale.assign(nsb, 0.f);
  // 1. absmax per 64-block (tasks of 256 blocks), the first non-finite weight, and the mean (in double, in order).
  std::vector<float> am(nb);
  std::atomic<size_t> bad{n};
  const int tasks = (int)((nb + 255) / 256);
  parallel_for(tasks, [&](int tb, int te) {
    alignas(64) float x[NF4_BLOCK];
    const size_t b1 = std::min(nb, (size_t)te * 256);
    for (size_t blk = (size_t)tb * 256; blk < b1; blk++) {
      load(blk, x);
      float m = 0.f;
      bool finite = true;
      for (int i = 0; i < NF4_BLOCK; i++) {
        finite &= std::isfinite(x[i]);
        m = std::max(m, std::fabs(x[i]));
      }
      if (!finite) {
        size_t i = 0;
        while (std::isfinite(x[i])) i++;
        size_t at = blk * NF4_BLOCK + i, cur = bad.load();
        while (at < cur && !bad.compare_exchange_weak(cur, at)) {}
      }
      am[blk] = m;
    }
  });
  if (bad.load() < n)
    throw EngineError("E_ENGINE", "nf4_quantize: weight " + std::to_string(bad.load()) + " is not finite");
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
  parallel_for(tasks, [&](int tb, int te) {
    alignas(64) float x[NF4_BLOCK];
    uint8_t c[NF4_BLOCK];
    const size_t b1 = std::min(nb, (size_t)te * 256);
    for (size_t blk = (size_t)tb * 256; blk < b1; blk++) {
      load(blk, x);
      const float a = decode_absmax(out, blk);
      const float inv = a > 0.f ? 1.f / a : 0.f;
      for (int i = 0; i < NF4_BLOCK; i++) c[i] = nearest_code(std::max(-1.f, std::min(1.f, x[i] * inv)));
      uint8_t* p = out.packed.data() + blk * (NF4_BLOCK / 2);
      for (int i = 0; i < NF4_BLOCK; i += 2) p[i / 2] = (uint8_t)(c[i] | (c[i + 1] << 4));
    }
  });
}

} // namespace

void nf4_quantize(const float* w, int rows, int cols, NF4Tensor& out) {
  quantize_blocks(rows, cols, out, [w](size_t blk, float* x) { std::memcpy(x, w + blk * NF4_BLOCK, NF4_BLOCK * 4); });
}

void nf4_quantize_bf16(const void* w16, int rows, int cols, NF4Tensor& out) {
  const uint8_t* src = static_cast<const uint8_t*>(w16); // any alignment (a tensor inside a mapped file)
  quantize_blocks(rows, cols, out, [src](size_t blk, float* x) {
    uint16_t h[NF4_BLOCK];
    std::memcpy(h, src + blk * NF4_BLOCK * 2, sizeof h);
    for (int i = 0; i < NF4_BLOCK; i++) {
      const uint32_t bits = (uint32_t)h[i] << 16;
      std::memcpy(x + i, &bits, 4);
    }
  });
}

namespace {

Nf4View view(const NF4Tensor& t) {
  return {t.packed.data(), t.absmax_q.data(), t.absmax_scale.data(), t.absmax_offset, NF4_CODE, t.rows, t.cols};
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
template <typename T, typename F>
void dequantize_rows(const NF4Tensor& t, int row0, int nrows, T* out, size_t ld, F body) {
  check_rows(t, row0, nrows);
  const size_t b0 = (size_t)row0 * t.cols / NF4_BLOCK, nb = (size_t)nrows * t.cols / NF4_BLOCK;
  const size_t per_row = ld == (size_t)t.cols ? nb + 1 : (size_t)t.cols / NF4_BLOCK; // compact: one long "row"
  if (nb == 0) return;
  // Serial inside a parallel_for; otherwise split across the pool in chunks of >= 64 blocks.
  const int chunks = (int)std::max<size_t>(1, nb / 64);
  const Nf4View w = view(t);
  parallel_for(chunks, [&](int cb, int ce) { body(w, b0, nb * cb / chunks, nb * ce / chunks, per_row, out, ld); });
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
  dequantize_rows(t, row0, nrows, out, ld, simd().nf4_bf16);
}

bool nf4_gemv_supported(const NF4Tensor& t) { return t.cols % NF4_BLOCK == 0; }

void nf4_gemv(const NF4Tensor& t, const float* x, int T, float* y) {
  if (!nf4_gemv_supported(t)) throw EngineError("E_ENGINE", "nf4_gemv: the row length must be a multiple of 64");
  if (T < 1 || T > NF4_GEMV_MAX_ROWS) throw EngineError("E_ENGINE", "nf4_gemv: T must be in [1, 32]");
  const Nf4GemvRows body = simd().nf4_gemv_rows; // isa.cc only picks variants this build has
  const Nf4View w = view(t);
  // Output rows in chunks of 16 per task: each weight block is decoded once, in registers, and used for all T inputs.
  const int rows = t.rows, chunks = (rows + 15) / 16;
  parallel_for(chunks, [&](int cb, int ce) { body(w, x, T, y, cb * 16, std::min(rows, ce * 16)); });
}

void nf4_dequantize_f32(const NF4Tensor& t, int row0, int nrows, float* out) {
  dequantize_rows(t, row0, nrows, out, (size_t)t.cols, simd().nf4_f32);
}

void nf4_dequantize_bf16(const NF4Tensor& t, int row0, int nrows, uint16_t* out) {
  dequantize_rows(t, row0, nrows, out, (size_t)t.cols, simd().nf4_bf16);
}

} // namespace peft::kern
