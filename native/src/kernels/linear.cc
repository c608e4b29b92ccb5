// FrozenLinear: the frozen base projection y = x W^T (+ bias) and dx += dy W for fp32 / bf16 / NF4 weights in fp32
// or bf16 compute. Weights that are not already in the compute type are materialised tile by tile (<= 4M values,
// whole-row tiles aligned to NF4 blocks) into a per-thread buffer that is reused across calls and layers, then
// multiplied with sgemm / gemm_bf16 (oneDNN) - never a full-model dequantized copy.
#include <algorithm>
#include <cstring>
#include <string>
#include "error.h"
#include "kernels/kernels.h"
#include "kernels/linear.h"
#include "kernels/sgemm_route.h"
#include "kernels/simd.h"
#include "kernels/threads_internal.h"

namespace peft::kern {

namespace {

constexpr size_t TILE_VALUES = size_t(1) << 22; // per-thread weight tile: 8 MB bf16 / 16 MB fp32 at most

int tile_rows(int out, int in) {
  size_t rows = TILE_VALUES / (size_t)in;
  rows = rows / NF4_BLOCK * NF4_BLOCK; // whole 64-row groups keep every tile on NF4 block boundaries
  if (rows < (size_t)NF4_BLOCK) rows = NF4_BLOCK;
  return rows >= (size_t)out ? out : (int)rows;
}

template <typename T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

thread_local std::vector<uint16_t> tl_act16; // activations converted to bf16
thread_local std::vector<uint16_t> tl_w16;   // weight tile in bf16
thread_local std::vector<float> tl_w32;      // weight tile in fp32
thread_local std::vector<float> tl_w32t;     // weight tile in fp32, transposed
thread_local std::vector<float> tl_rows;     // a few dequantised rows on their way into tl_w32t
thread_local std::vector<uint16_t> tl_aug16; // weight tile with extra columns / rows (folded LoRA products)

// f32 -> bf16 over the pool (activations are megabytes; one core converts ~2 values per ns).
void to_bf16_parallel(const float* x, uint16_t* y, size_t n) {
  const size_t chunk = 1 << 16;
  const int chunks = (int)((n + chunk - 1) / chunk);
  parallel_for(chunks, [&](int b, int e) {
    const size_t i0 = (size_t)b * chunk, i1 = std::min(n, (size_t)e * chunk);
    f32_to_bf16(x + i0, y + i0, i1 - i0);
  });
}

// fp32 products on NF4 / bf16 storage with enough rows run as one pool region: each thread takes a contiguous share of
// the T rows and materialises the weight tiles itself (nested: serially, into its own tile buffer), then multiplies
// its rows serially. Against a dequantization region followed by a parallel sgemm (one region per K block with the
// built-in kernel), this saves the hand-offs; the extra dequantization per thread is ~1% of the product at >= 64 rows
// per thread. fn(t0, t1) runs once per thread share.
template <typename F>
bool over_row_shares(bool materialised, int T, F fn) {
  const int P = threads();
  if (!materialised || P <= 1 || T < 64 * P || in_parallel_region()) return false;
  parallel_for(P, [&](int b, int e) {
    for (int p = b; p < e; p++) {
      const int t0 = (int)((long long)T * p / P), t1 = (int)((long long)T * (p + 1) / P);
      if (t1 > t0) fn(t0, t1);
    }
  });
  return true;
}

// The fp32 input gradient dx += dy W of materialised (NF4 / bf16) weights as dy (W^T)^T, the tile written transposed:
// on the oneDNN route the matmul primitive (the x W^T form) beats dnnl_sgemm's dy W at the training shares' shapes with
// in < 1024 (one thread, 1024 rows, Ice Lake, 3 runs: in 576 x out {576, 192, 1536} 1.2-1.5x; in 1536 x out 576, the
// down projection, 0.92x, so it stays). Serial tiles, so only inside the pool's row shares (or with one thread).
bool transposed_backward(int in, int rows) {
  return in < 1024 && rows >= 64 && sgemm_uses_onednn() && (in_parallel_region() || threads() <= 1);
}

void check_T(int T, const char* what) {
  if (T < 0) throw EngineError("E_ENGINE", std::string("FrozenLinear::") + what + ": T must be >= 0");
}

} // namespace

// y[T, out] = x[T, in] W^T for a few input rows and fp32 W [out, in]: T dot products per weight row, rows split over
// the pool, so W is streamed once (sgemm packs it first, which doubles the traffic of a decode step). The body is
// the active ISA's (isa.h).
void gemv_rows_f32(const float* W, int out, int in, const float* x, int T, float* y) {
  const GemvF32Rows body = simd().gemv_f32_rows;
  parallel_for((out + 15) / 16, [&](int cb, int ce) { body(W, out, in, x, T, y, cb * 16, std::min(out, ce * 16)); });
}

FrozenLinear::FrozenLinear(const float* w, const float* bias, int out, int in, Storage storage)
    : out_(out), in_(in), storage_(storage) {
  if (out <= 0 || in <= 0) throw EngineError("E_ENGINE", "FrozenLinear: out and in must be positive");
  if (!w) throw EngineError("E_ENGINE", "FrozenLinear: no weight");
  const size_t n = (size_t)out * in;
  switch (storage) {
    case Storage::F32: w32_.assign(w, w + n); break;
    case Storage::BF16:
      w16_.resize(n);
      f32_to_bf16(w, w16_.data(), n);
      break;
    case Storage::NF4:
      if (n % NF4_BLOCK != 0)
        throw EngineError("E_ENGINE", "FrozenLinear: NF4 needs out*in to be a multiple of 64 (got " +
                                          std::to_string(out) + "x" + std::to_string(in) +
                                          "); use quant none for this model");
      nf4_quantize(w, out, in, wq_);
      break;
  }
  if (bias) bias_.assign(bias, bias + out);
}

FrozenLinear::FrozenLinear(NF4Tensor&& wq, const float* bias)
    : out_(wq.rows), in_(wq.cols), storage_(Storage::NF4), wq_(std::move(wq)) {
  if (out_ <= 0 || in_ <= 0 || wq_.packed.size() * 2 != (size_t)out_ * in_)
    throw EngineError("E_ENGINE", "FrozenLinear: the NF4 tensor is empty or inconsistent");
  if (bias) bias_.assign(bias, bias + out_);
}

size_t FrozenLinear::bytes() const {
  return w32_.size() * 4 + w16_.size() * 2 + (storage_ == Storage::NF4 ? wq_.bytes() : 0) + bias_.size() * 4 +
         wi_bytes_.load();
}

const Nf4Interleaved& FrozenLinear::nf4_interleaved() const {
  if (storage_ != Storage::NF4)
    throw EngineError("E_INTERNAL", "FrozenLinear::nf4_interleaved: the weight is not stored in NF4");
  std::call_once(wi_once_, [&] {
    wi_ = std::make_unique<Nf4Interleaved>(nf4_interleave(wq_));
    wi_bytes_.store(wi_->bytes());
  });
  return *wi_;
}

void FrozenLinear::dequantize(float* w) const {
  const size_t n = (size_t)out_ * in_;
  switch (storage_) {
    case Storage::F32: std::memcpy(w, w32_.data(), n * 4); break;
    case Storage::BF16: bf16_to_f32(w16_.data(), w, n); break;
    case Storage::NF4: nf4_dequantize_f32(wq_, 0, out_, w); break;
  }
}

void FrozenLinear::keep_bf16_copy() {
  if (storage_ != Storage::F32 || !w16_.empty()) return;
  w16_.resize(w32_.size());
  f32_to_bf16(w32_.data(), w16_.data(), w32_.size());
}

// Rows [r0, r0+rows) of W in bf16: a pointer into w16_ (bf16 storage or the kept copy) or a filled per-thread tile.
const uint16_t* FrozenLinear::tile_bf16(int r0, int rows) const {
  if (!w16_.empty()) return w16_.data() + (size_t)r0 * in_;
  uint16_t* t = scratch(tl_w16, (size_t)rows * in_);
  if (storage_ == Storage::NF4)
    nf4_dequantize_bf16(wq_, r0, rows, t);
  else
    to_bf16_parallel(w32_.data() + (size_t)r0 * in_, t, (size_t)rows * in_);
  return t;
}

// Rows [r0, r0+rows) of W in fp32.
const float* FrozenLinear::tile_f32(int r0, int rows) const {
  if (storage_ == Storage::F32) return w32_.data() + (size_t)r0 * in_;
  float* t = scratch(tl_w32, (size_t)rows * in_);
  if (storage_ == Storage::NF4)
    nf4_dequantize_f32(wq_, r0, rows, t);
  else {
    const size_t n = (size_t)rows * in_, chunk = 1 << 16;
    const uint16_t* src = w16_.data() + (size_t)r0 * in_;
    parallel_for((int)((n + chunk - 1) / chunk), [&](int b, int e) {
      const size_t i0 = (size_t)b * chunk, i1 = std::min(n, (size_t)e * chunk);
      bf16_to_f32(src + i0, t + i0, i1 - i0);
    });
  }
  return t;
}

// Rows [r0, r0+rows) of W in fp32, transposed into [in, rows]: 16 rows at a time dequantised serially (NF4 rows whole
// blocks: in a multiple of 64), then written out column by column (16 contiguous values per column).
const float* FrozenLinear::tile_f32_t(int r0, int rows) const {
  constexpr int RB = 16;
  float* t = scratch(tl_w32t, (size_t)rows * in_);
  float* buf = scratch(tl_rows, (size_t)RB * in_);
  for (int rb = 0; rb < rows; rb += RB) {
    const int nr = std::min(RB, rows - rb);
    if (storage_ == Storage::NF4)
      nf4_dequantize_f32(wq_, r0 + rb, nr, buf); // serial: called inside a parallel region or with one thread
    else
      bf16_to_f32(w16_.data() + (size_t)(r0 + rb) * in_, buf, (size_t)nr * in_);
    for (int c = 0; c < in_; c++) {
      float* tc = t + (size_t)c * rows + rb;
      for (int r = 0; r < nr; r++) tc[r] = buf[(size_t)r * in_ + c];
    }
  }
  return t;
}

const float* FrozenLinear::rows_f32(int r0, int rows, std::vector<float>& buf) const {
  if (r0 < 0 || rows < 0 || r0 + rows > out_)
    throw EngineError("E_ENGINE", "FrozenLinear::rows_f32: rows out of range");
  if (storage_ == Storage::F32) return w32_.data() + (size_t)r0 * in_;
  if (buf.size() < (size_t)rows * in_) buf.resize((size_t)rows * in_);
  if (storage_ == Storage::NF4)
    nf4_dequantize_f32(wq_, r0, rows, buf.data());
  else
    bf16_to_f32(w16_.data() + (size_t)r0 * in_, buf.data(), (size_t)rows * in_);
  return buf.data();
}

void FrozenLinear::add_bias(float* y, int T) const {
  if (bias_.empty()) return;
  parallel_for(T, [&](int b, int e) {
    for (int t = b; t < e; t++) {
      float* yt = y + (size_t)t * out_;
      for (int o = 0; o < out_; o++) yt[o] += bias_[o];
    }
  });
}

void FrozenLinear::forward(float* y, const float* x, int T, Compute mode, const RowHook* after) const {
  check_T(T, "forward");
  if (T == 0) return;
  auto then = [&] {
    if (after) (*after)(0, T);
  };
  if (mode == Compute::BF16) {
    uint16_t* x16 = scratch(tl_act16, (size_t)T * in_);
    to_bf16_parallel(x, x16, (size_t)T * in_);
    forward_bf16(y, x16, T);
    return then();
  }
  if (storage_ == Storage::NF4 && T <= NF4_GEMV_MAX_ROWS && nf4_gemv_supported(wq_)) {
    nf4_gemv(wq_, x, T, y); // decoding: the weight decoded in registers, read once
    add_bias(y, T);
    return then();
  }
  if (storage_ == Storage::F32 && T <= NF4_GEMV_MAX_ROWS) {
    gemv_rows_f32(w32_.data(), out_, in_, x, T, y);
    add_bias(y, T);
    return then();
  }
  const int tr = tile_rows(out_, in_);
  const bool hook_in = after && bias_.empty(); // with a bias the hook must see y + bias: after add_bias
  auto product = [&](int t0, int t1) {
    for (int r0 = 0; r0 < out_; r0 += tr) {
      const int rows = std::min(tr, out_ - r0);
      const float* w = tile_f32(r0, rows);
      sgemm(false, true, t1 - t0, rows, in_, 1.f, x + (size_t)t0 * in_, in_, w, in_, 0.f, y + (size_t)t0 * out_ + r0,
            out_);
    }
    if (hook_in) (*after)(t0, t1);
  };
  if (!over_row_shares(storage_ != Storage::F32, T, product)) product(0, T);
  add_bias(y, T);
  if (after && !hook_in) (*after)(0, T);
}

void FrozenLinear::forward_bf16(float* y, const uint16_t* x16, int T) const {
  check_T(T, "forward_bf16");
  if (T == 0) return;
  const int tr = tile_rows(out_, in_);
  for (int r0 = 0; r0 < out_; r0 += tr) {
    const int rows = std::min(tr, out_ - r0);
    const uint16_t* w = tile_bf16(r0, rows);
    gemm_bf16(false, true, T, rows, in_, 1.f, x16, in_, w, in_, 0.f, y + r0, out_);
  }
  add_bias(y, T);
}

void FrozenLinear::backward_input(float* dx, const float* dy, int T, Compute mode, const RowHook* after) const {
  check_T(T, "backward_input");
  if (T == 0) return;
  if (mode == Compute::BF16) {
    uint16_t* dy16 = scratch(tl_act16, (size_t)T * out_);
    to_bf16_parallel(dy, dy16, (size_t)T * out_);
    backward_input_bf16(dx, dy16, T);
    if (after) (*after)(0, T);
    return;
  }
  const int tr = tile_rows(out_, in_);
  auto product = [&](int t0, int t1) {
    for (int r0 = 0; r0 < out_; r0 += tr) {
      const int rows = std::min(tr, out_ - r0);
      if (storage_ != Storage::F32 && (storage_ == Storage::BF16 || in_ % NF4_BLOCK == 0) &&
          transposed_backward(in_, rows)) {
        const float* wt = tile_f32_t(r0, rows);
        sgemm(false, true, t1 - t0, in_, rows, 1.f, dy + (size_t)t0 * out_ + r0, out_, wt, rows, 1.f,
              dx + (size_t)t0 * in_, in_);
        continue;
      }
      const float* w = tile_f32(r0, rows);
      sgemm(false, false, t1 - t0, in_, rows, 1.f, dy + (size_t)t0 * out_ + r0, out_, w, in_, 1.f,
            dx + (size_t)t0 * in_, in_);
    }
    if (after) (*after)(t0, t1);
  };
  if (!over_row_shares(storage_ != Storage::F32, T, product)) product(0, T);
}

void FrozenLinear::backward_input_bf16(float* dx, const uint16_t* dy16, int T) const {
  check_T(T, "backward_input_bf16");
  if (T == 0) return;
  const int tr = tile_rows(out_, in_);
  for (int r0 = 0; r0 < out_; r0 += tr) {
    const int rows = std::min(tr, out_ - r0);
    const uint16_t* w = tile_bf16(r0, rows);
    gemm_bf16(false, false, T, in_, rows, 1.f, dy16 + r0, out_, w, in_, 1.f, dx, in_);
  }
}

void FrozenLinear::forward_bf16_aug(float* y, const uint16_t* xa16, int T, const uint16_t* E, int ke) const {
  check_T(T, "forward_bf16_aug");
  if (ke < 0 || (ke > 0 && !E)) throw EngineError("E_ENGINE", "FrozenLinear::forward_bf16_aug: bad extra columns");
  if (T == 0) return;
  const int tr = tile_rows(out_, in_), K = in_ + ke;
  for (int r0 = 0; r0 < out_; r0 += tr) {
    const int rows = std::min(tr, out_ - r0);
    uint16_t* t = scratch(tl_aug16, (size_t)rows * K); // [rows, in + ke]: W rows, then their E columns
    if (storage_ == Storage::NF4)
      nf4_dequantize_bf16_ld(wq_, r0, rows, t, (size_t)K);
    else {
      const uint16_t* w = tile_bf16(r0, rows);
      for (int r = 0; r < rows; r++) std::memcpy(t + (size_t)r * K, w + (size_t)r * in_, (size_t)in_ * 2);
    }
    for (int r = 0; r < rows; r++) std::memcpy(t + (size_t)r * K + in_, E + (size_t)(r0 + r) * ke, (size_t)ke * 2);
    gemm_bf16(false, true, T, rows, K, 1.f, xa16, K, t, K, 0.f, y + r0, out_);
  }
  add_bias(y, T);
}

void FrozenLinear::backward_input_group_bf16(const FrozenLinear* const* ls, int g, float* dx, const uint16_t* dya16,
                                             int T, const uint16_t* F, int kf, bool accumulate) {
  check_T(T, "backward_input_group_bf16");
  if (g <= 0 || kf < 0 || (kf > 0 && !F))
    throw EngineError("E_ENGINE", "FrozenLinear::backward_input_group_bf16: bad group");
  const int in = ls[0]->in_;
  int rows = 0;
  for (int j = 0; j < g; j++) {
    if (ls[j]->in_ != in) throw EngineError("E_ENGINE", "FrozenLinear::backward_input_group_bf16: inputs differ");
    rows += ls[j]->out_;
  }
  if (T == 0) return;
  const int lda = rows + kf;
  if ((size_t)lda * in <= TILE_VALUES) {
    uint16_t* t = scratch(tl_aug16, (size_t)lda * in); // [W_0; ...; W_{g-1}; F]
    size_t r0 = 0;
    for (int j = 0; j < g; j++) {
      const FrozenLinear& L = *ls[j];
      if (L.storage_ == Storage::NF4)
        nf4_dequantize_bf16(L.wq_, 0, L.out_, t + r0 * in);
      else
        std::memcpy(t + r0 * in, L.tile_bf16(0, L.out_), (size_t)L.out_ * in * 2);
      r0 += L.out_;
    }
    if (kf) std::memcpy(t + r0 * in, F, (size_t)kf * in * 2);
    gemm_bf16(false, false, T, in, lda, 1.f, dya16, lda, t, in, accumulate ? 1.f : 0.f, dx, in);
    return;
  }
  if (!accumulate) std::memset(dx, 0, (size_t)T * in * sizeof(float));
  int c0 = 0;
  for (int j = 0; j < g; j++) {
    const FrozenLinear& L = *ls[j];
    const int tr = tile_rows(L.out_, in);
    for (int r0 = 0; r0 < L.out_; r0 += tr) {
      const int n = std::min(tr, L.out_ - r0);
      gemm_bf16(false, false, T, in, n, 1.f, dya16 + c0 + r0, lda, L.tile_bf16(r0, n), in, 1.f, dx, in);
    }
    c0 += L.out_;
  }
  if (kf) gemm_bf16(false, false, T, in, kf, 1.f, dya16 + rows, lda, F, in, 1.f, dx, in);
}

} // namespace peft::kern
