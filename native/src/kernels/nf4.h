// NF4 quantization (QLoRA): block size 64, the 16-value NF4 code book, absmax per block, double
// quantization of the absmax constants to 8 bits in blocks of 256 with the mean offset (as bitsandbytes).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace peft::kern {

extern const float NF4_CODE[16]; // the QLoRA paper's NF4 values, ascending, NF4_CODE[7] == 0

constexpr int NF4_BLOCK = 64;     // weights per absmax
constexpr int NF4_DQ_BLOCK = 256; // absmax constants per double-quant scale

struct NF4Tensor {
  int rows = 0, cols = 0;          // logical [rows, cols] row-major (HF weight layout [out, in])
  std::vector<uint8_t> packed;     // rows*cols/2 bytes, two 4-bit codes per byte (low nibble first)
  std::vector<uint8_t> absmax_q;   // one 8-bit code per 64-weight block
  std::vector<float> absmax_scale; // one fp32 scale per 256 blocks
  float absmax_offset = 0.f;       // mean of the absmax constants, subtracted before quantizing
  size_t bytes() const;            // storage footprint
};

// Quantize a row-major fp32 matrix; rows*cols must be a multiple of NF4_BLOCK.
void nf4_quantize(const float* w, int rows, int cols, NF4Tensor& out);
// The same codes from bf16 weights (any alignment, e.g. a tensor of a mapped checkpoint), block by block on the pool:
// each 64-weight block is widened on the stack only (bf16 -> fp32 is exact, so the result equals nf4_quantize of the
// widened weights bit for bit), never a full fp32 copy.
void nf4_quantize_bf16(const void* w16, int rows, int cols, NF4Tensor& out);
// Absmax of block b after double-quant decoding.
float nf4_block_absmax(const NF4Tensor& t, size_t block);
// Dequantize rows [row0, row0+nrows) into out (nrows*cols values).
void nf4_dequantize_f32(const NF4Tensor& t, int row0, int nrows, float* out);
void nf4_dequantize_bf16(const NF4Tensor& t, int row0, int nrows, uint16_t* out);
// y[T, rows] = x[T, cols] W^T for a few input rows (decoding): each 64-weight block is decoded in registers and
// multiplied into every input row, so the weight is read once and never materialised (the tile path writes and
// rereads it in fp32: ~8x the memory traffic). Needs cols % 64 == 0 (nf4_gemv_supported) and 1 <= T <= 32.
constexpr int NF4_GEMV_MAX_ROWS = 32;
bool nf4_gemv_supported(const NF4Tensor& t);
void nf4_gemv(const NF4Tensor& t, const float* x, int T, float* y);
// Same into rows of stride ld >= cols (room for extra columns after each row).
void nf4_dequantize_bf16_ld(const NF4Tensor& t, int row0, int nrows, uint16_t* out, size_t ld);

} // namespace peft::kern
