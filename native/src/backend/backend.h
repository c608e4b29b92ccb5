// The backend seam: every computation the Llama forward / backward, the trainer and inference run goes through this
// interface (ggml style: one object, one virtual per op). The CPU backend (cpu_backend.cc, over ops/ and kernels/) is
// the only implementation; a GPU backend implements the same calls. Buffers are host pointers today (see
// docs/engine.md, "Backend seam", for what a device backend needs beyond these calls).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>
#include "decode/decode_attention.h"
#include "kernels/linear.h"
#include "ops/ops.h"

namespace peft {

// One fp32 tensor and its bf16 copy (n values each), for Backend::convert_bf16.
struct Bf16Pair {
  float* f32;
  uint16_t* bf16;
  size_t n;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0; // "cpu"
  virtual std::string info() const = 0; // libraries, kernels and threads it runs with
  virtual bool bf16_native() const = 0; // bf16 matmuls run on native bf16 hardware kernels

  // ---- memory and element-wise (N rows of C values; shapes as in ops/ops.h)
  virtual void zero(float* x, size_t n) const = 0;
  virtual void embed_rows(float* out, const float* table, const int32_t* ids, int N,
                          int C) const = 0; // out[r] = table[ids[r]]
  virtual void copy_rows(float* dst, const float* src, int N, int C) const = 0;
  virtual void add_inplace(float* y, const float* x, int N, int C) const = 0; // y += x
  virtual void scale_inplace(float* x, size_t n, float c) const = 0;          // x *= c
  virtual double sum_squares(const float* x, size_t n) const = 0;             // sum x^2 (double)
  // log(sum(exp(logits))) of one row [V]: the vectorised float exp (the same bits on every ISA) summed in 16 lanes,
  // then in double; a token's log-probability is logits[id] - this, in generate and the batched decoder alike.
  virtual double row_log_sum_exp(const float* logits, int V) const = 0;
  virtual void f32_to_bf16(const float* x, uint16_t* y, size_t n) const = 0;
  virtual void rows_to_bf16(const float* src, int lds, int N, int cols, uint16_t* dst, int ldd) const = 0;
  // Each pair's fp32 values to its bf16 copy (to_bf16) or back, as one parallel pass over all of them.
  virtual void convert_bf16(const Bf16Pair* t, int count, bool to_bf16) const = 0;

  // ---- frozen base projections (kern::FrozenLinear: fp32 / bf16 / NF4 storage, NF4 dequantised per tile)
  virtual void linear_forward(const kern::FrozenLinear& w, float* y, const float* x, int T,
                              kern::Compute mode) const = 0;
  virtual void linear_backward_input(const kern::FrozenLinear& w, float* dx, const float* dy, int T,
                                     kern::Compute mode) const = 0;
  virtual void linear_forward_bf16_aug(const kern::FrozenLinear& w, float* y, const uint16_t* xa16, int T,
                                       const uint16_t* E, int ke) const = 0;
  virtual void linear_backward_input_group_bf16(const kern::FrozenLinear* const* ls, int g, float* dx,
                                                const uint16_t* dya16, int T, const uint16_t* F, int kf,
                                                bool accumulate) const = 0;
  // y[T, out] = x[T, in] W^T for a few rows with an fp32 W (decoding's lm_head).
  virtual void gemv_rows_f32(const float* W, int out, int in, const float* x, int T, float* y) const = 0;
  // Decoding products (T <= 32 rows, fp32; kernels/decode_rows.h: NF4 decoded in registers, every output one
  // accumulator over the inputs in order, a row's result independent of T), each call one pool region:
  // ys[j][T, out_j] = x W_j^T (+ bias_j) for n projections reading x (q/k/v), plus `resid` [T, out_0] when given;
  // gate and up with h = silu(gate) up computed per chunk in the same region; a plain fp32 or bf16 matrix (head,
  // LoRA). bf16: weights with a bf16 copy (bf16 compute) are read in bf16, accumulated in fp32.
  virtual bool decode_supported(const kern::FrozenLinear& w) const = 0;
  virtual void decode_linear_group(const kern::FrozenLinear* const* ws, float* const* ys, int n, const float* x, int T,
                                   const float* resid, bool bf16) const = 0;
  virtual void decode_gate_up_swiglu(const kern::FrozenLinear& gate, const kern::FrozenLinear& up, const float* x,
                                     int T, float* g, float* u, float* h, bool bf16) const = 0;
  virtual void decode_matvec_f32(const float* W, int out, int in, const float* x, int T, float* y) const = 0;
  virtual void decode_matvec_bf16(const uint16_t* W, int out, int in, const float* x, int T, float* y) const = 0;

  // ---- batched decoding (decode/): products and attention whose result for a row never depends on the other rows
  // y[T, out] = x[T, in] W^T (+ bias) for the pooled rows of a decoder step (NF4 tiles decoded once per step).
  // bf16 (bf16 compute): bf16 inputs and weights, fp32 accumulation, where decode_rows_bf16_available().
  virtual void decode_rows_linear(const kern::FrozenLinear& w, float* y, const float* x, int T, bool bf16) const = 0;
  // Whether decode_rows_linear's bf16 mode and decode_rows_bf16 run here (AVX512-BF16; decode/rows_matmul.h).
  virtual bool decode_rows_bf16_available() const = 0;
  // y[T, out] = x[T, in] W^T for a bf16 W [out, in] (the lm_head's bf16 copy) in that bf16 mode.
  virtual void decode_rows_bf16(const uint16_t* W, int out, int in, const float* x, int T, float* y) const = 0;
  // int8 compute (decode/rows_int8.h): y[T, out] = x[T, in] W^T (+ bias) with int8 inputs and NF4 weights as int8
  // levels (exact int32 dot products per 32 inputs); weights that are not NF4 with in % 32 == 0 run decode_rows_linear.
  virtual void decode_rows_linear_int8(const kern::FrozenLinear& w, float* y, const float* x, int T) const = 0;
  // ys[j] = x W_j^T for n projections reading x, in one pool region (the same numbers as one at a time).
  virtual void decode_rows_linear_int8_group(const kern::FrozenLinear* const* ws, float* const* ys, int n,
                                             const float* x, int T) const = 0;
  // y[T, out] = x[T, in] W^T for a W quantised by quantize_q8_rows (the lm_head in int8 compute).
  virtual void decode_rows_q8(const int8_t* Wq, const float* Wd, int out, int in, const float* x, int T,
                              float* y) const = 0;
  // W [rows, in] (in % 32 == 0) to int8 per 32 values with one scale each (absmax / 127), for decode_rows_q8.
  virtual void quantize_q8_rows(const float* W, int rows, int in, std::vector<int8_t>& q,
                                std::vector<float>& d) const = 0;
  // y[T, out] = x[T, in] W^T for an fp32 W [out, in] (the lm_head, LoRA A and B).
  virtual void decode_rows_f32(const float* W, int out, int in, const float* x, int T, float* y) const = 0;
  // One query row per sequence against its own KV cache (decode/decode_attention.h).
  virtual void decode_attention_rows(const decode::AttnRow* rows, int n, int nh, int nkv, int hd, int window) const = 0;

  // ---- RMSNorm
  virtual void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int N, int C,
                               float eps) const = 0;
  virtual void add_rmsnorm_forward(float* x2, const float* x, float* out, float* rstd, const float* w, int N, int C,
                                   float eps) const = 0;
  virtual void rmsnorm_apply(float* out, const float* x, const float* w, const float* rstd, int N, int C) const = 0;
  virtual void rmsnorm_apply_bf16(uint16_t* out, const float* x, const float* w, const float* rstd, int N,
                                  int C) const = 0;
  virtual void rmsnorm_backward(float* dx, const float* dout, const float* x, const float* w, const float* rstd, int N,
                                int C) const = 0;

  // ---- LayerNorm with bias and gelu_new (GPT-2; ops/layernorm.cc, ops/gelu.cc)
  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b,
                                 int N, int C, float eps) const = 0;
  virtual void layernorm_apply(float* out, const float* x, const float* w, const float* b, const float* mean,
                               const float* rstd, int N, int C) const = 0;
  virtual void layernorm_backward(float* dx, const float* dout, const float* x, const float* w, const float* mean,
                                  const float* rstd, int N, int C) const = 0;
  virtual void gelu_new_forward(float* h, const float* u, size_t n) const = 0;
  virtual void gelu_new_backward(float* du, const float* dh, const float* u, size_t n) const = 0;
  // C values of each of N rows from src (row stride lds) to dst (row stride ldd): gpt2's fused q | k | v split.
  virtual void copy_cols(float* dst, int ldd, const float* src, int lds, int N, int C) const = 0;

  // ---- RoPE (the table is built on the host: ops::rope_table)
  virtual void rope_forward(float* x, const ops::RopeTable& tab, int N, int T, int nheads, int hd) const = 0;
  virtual void rope_backward(float* dx, const ops::RopeTable& tab, int N, int T, int nheads, int hd) const = 0;

  // ---- causal GQA attention
  virtual void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                                 const ops::AttnShape& s) const = 0;
  virtual void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                                  const float* k, const float* v, const float* lse, const ops::AttnShape& s) const = 0;

  // ---- SwiGLU
  virtual void swiglu_forward(float* h, const float* g, const float* u, size_t n, bool fast) const = 0;
  virtual void swiglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, size_t n,
                               bool fast) const = 0;
  virtual void swiglu_forward_keep_bf16(float* h, const float* g, const float* u, uint16_t* g16, uint16_t* u16,
                                        size_t n) const = 0;
  virtual void swiglu_forward_from_bf16(float* h, const uint16_t* g16, const uint16_t* u16, size_t n) const = 0;
  virtual void swiglu_backward_from_bf16(float* dg, float* du, const float* dh, const uint16_t* g16,
                                         const uint16_t* u16, size_t n) const = 0;
  virtual void swiglu_forward_bf16_to_bf16(uint16_t* h16, const uint16_t* g16, const uint16_t* u16, size_t n) const = 0;

  // ---- lm_head + cross-entropy (chunked over rows and vocabulary), scoring
  virtual double cross_entropy_forward_backward(float* dh, const float* h, const float* W, const uint16_t* W16,
                                                const int32_t* targets, int N, int C, int V, float grad_scale,
                                                float* work, size_t work_floats) const = 0;
  virtual size_t cross_entropy_bf16_work_floats(int N, int C, int V) const = 0;
  virtual void logprobs_forward(float* logprob, float* logits, const float* h, const float* W, const int32_t* targets,
                                int N, int C, int V) const = 0;

  // ---- LoRA products, fp32 (frozen adapters, the reference path)
  virtual void lora_forward(float* y, float* u, const float* x, const float* A, const float* B, int N, int in, int out,
                            int r, float scale) const = 0;
  virtual void lora_backward(float* dA, float* dB, float* dx, float* du, const float* dy, const float* x,
                             const float* u, const float* A, const float* B, int N, int in, int out, int r, float scale,
                             float* dAT) const = 0;
  // ---- fp32 compute: a frozen projection and its trainable LoRA as one pool region (the LoRA rows ride in the frozen
  // product's row shares, kern::FrozenLinear::RowHook): y = x W^T (+ b) + s (x A^T) B^T with u = x A^T saved; and
  // dx += dy W + du A with du = s dy B saved (the weight gradients then come from lora_weight_grads).
  virtual void linear_lora_forward(const kern::FrozenLinear& w, float* y, const float* x, int T, kern::Compute mode,
                                   float* u, const float* A, const float* B, int r, float scale) const = 0;
  virtual void linear_lora_backward_input(const kern::FrozenLinear& w, float* dx, const float* dy, int T,
                                          kern::Compute mode, float* du, const float* A, const float* B, int r,
                                          float scale) const = 0;
  virtual void lora_weight_grads(float* dA, float* dB, const float* du, const float* dy, const float* x, const float* u,
                                 int N, int in, int out, int r, float scale, float* dAT) const = 0;
  // ---- LoRA products in bf16 compute, folded into the frozen matmuls (ops::LoraGroup: g projections on one input)
  virtual void lora_group_project_bf16(const ops::LoraGroup& G, uint16_t* xa16, int N, float* ucat,
                                       float* const* lus) const = 0;
  virtual void lora_group_project_dropout_bf16(const ops::LoraGroup& G, uint16_t* xa16, const uint16_t* const* xd16,
                                               int N, float* ucat, float* const* lus) const = 0;
  virtual const uint16_t* lora_extra_cols_bf16(const ops::LoraGroup& G, int j) const = 0;
  virtual void lora_out_backward_bf16(const ops::LoraGroup& G, int j, const uint16_t* dy16, int lddy, const float* u,
                                      int N, float* dB, float* du_cat, uint16_t* du16, int lddu) const = 0;
  virtual const uint16_t* lora_A_bf16(const ops::LoraGroup& G) const = 0;
  virtual void lora_in_backward_bf16(const ops::LoraGroup& G, const uint16_t* x16, int ldx, const float* du_cat, int N,
                                     float* const* dA) const = 0;
  virtual void lora_in_backward_one_bf16(const ops::LoraGroup& G, int j, const uint16_t* xd16, const float* du_cat,
                                         int N, float* dA, float* dxd) const = 0;

  // ---- LoRA dropout (counter-based masks: the same mask for a (seed, stream) on every backend)
  virtual void dropout_forward(float* out, const float* x, size_t n, float p, uint64_t seed, uint64_t stream) const = 0;
  virtual void dropout_forward_bf16(uint16_t* out, const float* x, size_t n, float p, uint64_t seed,
                                    uint64_t stream) const = 0;
  virtual void dropout_backward(float* dx, const float* dout, size_t n, float p, uint64_t seed,
                                uint64_t stream) const = 0;

  // ---- optimizer: AdamW on one tensor (torch single-tensor semantics)
  virtual void adamw_update(float* p, float* m, float* v, const float* g, size_t n, float lr, float beta1, float beta2,
                            float eps, float weight_decay, long t) const = 0;
};

// The CPU backend (ops/ and kernels/: OpenBLAS or the built-in sgemm, oneDNN bf16, the engine's thread pool).
const Backend& cpu_backend();

} // namespace peft
