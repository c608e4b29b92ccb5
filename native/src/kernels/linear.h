// The frozen base projection y = x W^T (+ bias) and its input gradient dx = dy W, for weights stored as
// fp32, bf16 or NF4, in fp32 or bf16 compute mode. NF4 is dequantized tile by tile into a reused buffer;
// there is never a full-model dequantized copy.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>
#include "nf4.h"
#include "nf4_interleaved.h"

namespace peft::kern {

enum class Storage { F32, BF16, NF4 };
enum class Compute { F32, BF16 };

class FrozenLinear {
 public:
  // w: [out, in] row-major fp32 (HF layout). bias may be null. Stores a private copy in `storage`.
  FrozenLinear(const float* w, const float* bias, int out, int in, Storage storage);
  // An NF4 weight quantised elsewhere (e.g. straight from a bf16 checkpoint: nf4_quantize_bf16), taken over.
  FrozenLinear(NF4Tensor&& wq, const float* bias);
  int in() const { return in_; }
  int out() const { return out_; }
  Storage storage() const { return storage_; }
  // The stored weight (for the decode products, kernels/decode_rows.h): fp32 [out, in] (null unless F32), the NF4
  // tensor (meaningful when NF4), the bias [out] (null when none).
  const float* f32_data() const { return w32_.empty() ? nullptr : w32_.data(); }
  const uint16_t* bf16_data() const { return w16_.empty() ? nullptr : w16_.data(); } // bf16 storage or kept copy
  const NF4Tensor& nf4_tensor() const { return wq_; }
  // The NF4 codes in the decode products' interleaved layout (nf4_interleaved.h), built on the first call (thread
  // safe); meaningful when NF4 with whole 64-weight blocks per row.
  const Nf4Interleaved& nf4_interleaved() const;
  const float* bias_data() const { return bias_.empty() ? nullptr : bias_.data(); }
  size_t bytes() const; // weight storage footprint (incl. NF4 constants, bias and the decode layout once built)

  // Work on the rows a product just wrote: after(t0, t1) runs once the rows [t0, t1) of the result are final, on the
  // thread that wrote them: inside the product's own pool region when the product takes row shares (fp32 compute on
  // NF4 / bf16 storage, enough rows, no bias), once over [0, T) after it otherwise. Row-separable follow-ups (the LoRA
  // side path) ride in the same region instead of dispatching one of their own.
  using RowHook = std::function<void(int, int)>;
  // y[T, out] = x[T, in] * W^T + bias   (beta = 0: y is overwritten); then after(...) when given
  void forward(float* y, const float* x, int T, Compute mode, const RowHook* after = nullptr) const;
  // dx[T, in] += dy[T, out] * W   (accumulates into dx); then after(...) when given
  void backward_input(float* dx, const float* dy, int T, Compute mode, const RowHook* after = nullptr) const;
  // bf16-compute variants taking activations already converted to bf16 (convert once, use for q/k/v or gate/up).
  void forward_bf16(float* y, const uint16_t* x16, int T) const;          // x16 [T, in]
  void backward_input_bf16(float* dx, const uint16_t* dy16, int T) const; // dy16 [T, out]
  // bf16 compute with extra operands folded into the same matmul (the LoRA side path rides along, no second pass
  // over y): y[T, out] = xa16[T, in + ke] [W | E]^T + bias with E [out, ke] bf16 row-major.
  void forward_bf16_aug(float* y, const uint16_t* xa16, int T, const uint16_t* E, int ke) const;
  // The input gradient of g projections that read one input, plus extra rows F [kf, in] (the folded LoRA A's):
  // dx[T, in] = dya16[T, sum out_j + kf] [W_0; ...; W_{g-1}; F] (+= dx when accumulate). One matmul over the
  // stacked weights when they fit one tile, which also spares the sum post-op (a read-modify-write of dx that cost
  // ~20% of the product here); one product per projection otherwise.
  static void backward_input_group_bf16(const FrozenLinear* const* ls, int g, float* dx, const uint16_t* dya16, int T,
                                        const uint16_t* F, int kf, bool accumulate);
  // Rows [r0, r0+rows) of W in fp32: a pointer into the fp32 weight, or `buf` filled (NF4, bf16); for batched decoding.
  const float* rows_f32(int r0, int rows, std::vector<float>& buf) const;
  // y[T, out] += bias (no-op without one).
  void add_bias_rows(float* y, int T) const { add_bias(y, T); }
  // The weight as fp32 [out, in] (for tests and merges).
  void dequantize(float* w) const;
  // fp32-stored weights used in bf16 compute: keep a bf16 copy beside the fp32 one so each matmul reads bf16
  // directly instead of converting the whole weight on every call (fp32 stays for decoding, merges and fp32 mode).
  void keep_bf16_copy();

 private:
  int out_, in_;
  Storage storage_;
  std::vector<float> w32_;
  std::vector<uint16_t> w16_;
  NF4Tensor wq_;
  std::vector<float> bias_;
  mutable std::once_flag wi_once_;
  mutable std::unique_ptr<Nf4Interleaved> wi_; // the decode layout, from the first decode product on
  mutable std::atomic<size_t> wi_bytes_{0};    // its size once built (bytes() may run beside the build)

  const uint16_t* tile_bf16(int r0, int rows) const; // rows [r0, r0+rows) of W as bf16 (stored or per-thread tile)
  const float* tile_f32(int r0, int rows) const;     // same in fp32
  const float* tile_f32_t(int r0, int rows) const;   // same transposed: [in, rows] (serial; NF4 / bf16 storage)
  void add_bias(float* y, int T) const;
};

} // namespace peft::kern
