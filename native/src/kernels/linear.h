// The frozen base projection y = x W^T (+ bias) and its input gradient dx = dy W, for weights stored as
// fp32, bf16 or NF4, in fp32 or bf16 compute mode. NF4 is dequantized tile by tile into a reused buffer;
// there is never a full-model dequantized copy.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>
#include "nf4.h"

namespace peft::kern {

enum class Storage { F32, BF16, NF4 };
enum class Compute { F32, BF16 };

class FrozenLinear {
 public:
  // w: [out, in] row-major fp32 (HF layout). bias may be null. Stores a private copy in `storage`.
  FrozenLinear(const float* w, const float* bias, int out, int in, Storage storage);
  int in() const { return in_; }
  int out() const { return out_; }
  Storage storage() const { return storage_; }
  size_t bytes() const; // weight storage footprint (incl. NF4 constants and bias)

  // y[T, out] = x[T, in] * W^T + bias   (beta = 0: y is overwritten)
  void forward(float* y, const float* x, int T, Compute mode) const;
  // dx[T, in] += dy[T, out] * W   (accumulates into dx)
  void backward_input(float* dx, const float* dy, int T, Compute mode) const;
  // The weight as fp32 [out, in] (for tests and merges).
  void dequantize(float* w) const;

 private:
  int out_, in_;
  Storage storage_;
  std::vector<float> w32_;
  std::vector<uint16_t> w16_;
  NF4Tensor wq_;
  std::vector<float> bias_;
};

} // namespace peft::kern
