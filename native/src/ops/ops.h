// The model's compute ops as llm.c-style forward/backward pairs: outputs first, d-prefixed gradients,
// every buffer's shape in its comment. All fp32, row-major; N = number of token rows (batch * seq).
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

namespace peft::ops {

// parallel_for for the elementwise ops: below ~64K floats of work the pool's wake-up costs more than it saves,
// so small calls (tiny models, decode steps) run inline on the calling thread.
void par_rows(int n, size_t work_per_row, const std::function<void(int, int)>& fn);
// fn(lo, hi) over [0, n) in pieces of `chunk` elements, through par_rows.
template <typename F>
void par_chunks(size_t n, size_t chunk, F&& fn) {
  par_rows((int)((n + chunk - 1) / chunk), chunk, [&](int b, int e) {
    for (int c = b; c < e; c++) fn((size_t)c * chunk, std::min(n, (size_t)(c + 1) * chunk));
  });
}
// The first `cols` values of N rows of src (row stride lds) to bf16 rows of dst (row stride ldd), over the pool.
void rows_to_bf16(const float* src, int lds, int N, int cols, uint16_t* dst, int ldd);

// ---- RMSNorm (ops/rmsnorm.cc): out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps)
void rmsnorm_forward(float* out,     // [N, C]
                     float* rstd,    // [N] (saved for backward; may be null)
                     const float* x, // [N, C]
                     const float* w, // [C]
                     int N, int C, float eps);
// Fused residual add + RMSNorm: x2 += x, then out = rmsnorm(x2) (rstd saved when non-null); bit-identical to the
// two ops in sequence.
void add_rmsnorm_forward(float* x2,      // [N, C] (+= x: the residual stream after the block)
                         const float* x, // [N, C]
                         float* out, float* rstd, const float* w, int N, int C, float eps);
// The forward's output again from its saved rstd (bit-identical; used where the backward recomputes a norm).
void rmsnorm_apply(float* out, const float* x, const float* w, const float* rstd, int N, int C);
// The same written as bf16 (the fp32 values rounded), for consumers that only read it in bf16.
void rmsnorm_apply_bf16(uint16_t* out, const float* x, const float* w, const float* rstd, int N, int C);
// dx += d(out)/dx applied to dout (accumulates: the residual stream's gradient).
void rmsnorm_backward(float* dx,         // [N, C] (+=)
                      const float* dout, // [N, C]
                      const float* x,    // [N, C]
                      const float* w,    // [C]
                      const float* rstd, // [N]
                      int N, int C);

// ---- LayerNorm with bias (ops/layernorm.cc, GPT-2): out = (x - mean) * rstd * w + b, biased variance
void layernorm_forward(float* out,  // [N, C]
                       float* mean, // [N] (saved for backward; may be null)
                       float* rstd, // [N] (saved for backward; may be null)
                       const float* x, const float* w, const float* b, int N, int C, float eps);
// The forward's output again from the saved mean / rstd (the backward's recompute).
void layernorm_apply(float* out, const float* x, const float* w, const float* b, const float* mean, const float* rstd,
                     int N, int C);
// dx += d(out)/dx applied to dout (accumulates: the residual stream's gradient).
void layernorm_backward(float* dx, const float* dout, const float* x, const float* w, const float* mean,
                        const float* rstd, int N, int C);

// ---- gelu_new (ops/gelu.cc, GPT-2's MLP): h = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))
void gelu_new_forward(float* h, const float* u, size_t n);
void gelu_new_backward(float* du, const float* dh, const float* u, size_t n); // du = dh * gelu_new'(u)

// ---- RoPE (ops/rope.cc), HF rotate_half layout: inside each head, dim j pairs with dim j + hd/2.
struct RopeTable {
  int pos0 = 0, T = 0, half = 0;
  std::vector<float> cos, sin; // [T, half] for positions pos0 .. pos0+T-1
};
// inv_freq: [half] (from rope_inv_freq), pos_scale multiplies the position (linear scaling).
void rope_table(RopeTable& tab, const std::vector<double>& inv_freq, double pos_scale, int pos0, int T);
// x row r (r in [0, N)) has position tab.pos0 + (r % T): rows are B sequences of T tokens each.
void rope_forward(float* x, // [N, nheads*hd] in place
                  const RopeTable& tab, int N, int T, int nheads, int hd);
void rope_backward(float* dx, // [N, nheads*hd] in place (rotation by -angle)
                   const RopeTable& tab, int N, int T, int nheads, int hd);

// ---- Causal attention with GQA and optional sliding window (ops/attention.cc).
// One sequence: T queries at positions pos0..pos0+T-1 against Tk = pos0+T keys (keys 0..Tk-1; in training
// pos0 = 0 and Tk = T, in cached decoding the keys come from the cache). Query i sees key j when
// j <= pos0+i and (window == 0 or j > pos0+i-window). Scale 1/sqrt(hd).
struct AttnShape {
  int T, Tk, pos0, nh, nkv, hd, window;
  int q_stride, kv_stride; // floats between consecutive rows of q/out and of k/v
  int batch = 1;           // sequences, stacked: rows b*T.. of q/out, b*Tk.. of k/v, lse [batch, nh, T]
  bool bf16 = false;       // bf16 matmuls (fp32 accumulation) and vectorised exp; false: fp32 reference
};
void attention_forward(float* out,     // [T, nh*hd] (row stride q_stride)
                       float* lse,     // [nh, T] log-sum-exp of each score row (saved; may be null)
                       const float* q, // [T, nh*hd]
                       const float* k, // [Tk, nkv*hd]
                       const float* v, // [Tk, nkv*hd]
                       const AttnShape& s);
// Gradients (dq overwritten, dk/dv accumulated). Recomputes the probabilities from q, k and lse.
void attention_backward(float* dq,         // [T, nh*hd] (=)
                        float* dk,         // [T, nkv*hd] (+=)
                        float* dv,         // [T, nkv*hd] (+=)
                        const float* dout, // [T, nh*hd]
                        const float* out,  // [T, nh*hd]
                        const float* q, const float* k, const float* v, const float* lse, const AttnShape& s);

// ---- SwiGLU (ops/swiglu.cc): h = silu(g) * u
// fast: the ISA's vectorised exp, element-wise (a value never depends on its position: training, prompts of 32+ rows,
// every decoding row of generate and the batched decoder); otherwise std::exp (shorter training / scoring batches,
// GPT-2 / MoE fp32).
void swiglu_forward(float* h,       // [N, I]
                    const float* g, // [N, I]
                    const float* u, // [N, I]
                    size_t n,       // N*I
                    bool fast = false);
void swiglu_backward(float* dg,       // [N, I] (=; may be g itself: in place is safe)
                     float* du,       // [N, I] (=; may be u itself)
                     const float* dh, // [N, I]
                     const float* g, const float* u, size_t n, bool fast = false);
// bf16-compute training (vectorised exp): the forward that also writes gate / up as bf16 (kept for the backward) in
// the same pass, and the recompute / backward that read those bf16 copies directly; the same values as widening
// them to fp32 first and calling the two functions above.
void swiglu_forward_keep_bf16(float* h, const float* g, const float* u, uint16_t* g16, uint16_t* u16, size_t n);
void swiglu_forward_from_bf16(float* h, const uint16_t* g16, const uint16_t* u16, size_t n);
void swiglu_backward_from_bf16(float* dg, float* du, const float* dh, const uint16_t* g16, const uint16_t* u16,
                               size_t n);
// The recompute when only a bf16 h is needed (the down projection's LoRA input): h16 = bf16(silu(g) * u).
void swiglu_forward_bf16_to_bf16(uint16_t* h16, const uint16_t* g16, const uint16_t* u16, size_t n);

// ---- Cross-entropy over the vocabulary, computed in row chunks so [N, V] logits never exist (ops/cross_entropy.cc).
// Rows with target < 0 are ignored. For each kept row: loss_r = logsumexp(h_r W^T) - (h_r W^T)[target].
// Returns the summed loss (double). When dh is non-null it accumulates dh_r += grad_scale * (softmax - onehot) W.
// With W16 (the same W in bf16) the bf16 kernel runs: bf16 matmuls with fp32 accumulation, fp32 logits of 256 rows
// at a time (in `work` when it holds cross_entropy_bf16_work_floats(...) floats: the caller's planned scratch; else
// allocated), vectorised exp; without it the plain fp32 path (sgemm, exp in double).
double cross_entropy_forward_backward(float* dh,              // [N, C] (+=) or null
                                      const float* h,         // [N, C] final-norm output
                                      const float* W,         // [V, C] output projection (lm_head / tied embedding)
                                      const uint16_t* W16,    // [V, C] bf16 copy of W, or null for the fp32 path
                                      const int32_t* targets, // [N]
                                      int N, int C, int V, float grad_scale, float* work = nullptr,
                                      size_t work_floats = 0);
// Floats of working memory the bf16 kernel uses for up to N rows (logits, bf16 dlogits, partial dh, bf16 inputs).
size_t cross_entropy_bf16_work_floats(int N, int C, int V);
// Per-row log-probabilities of the targets and, optionally, the full logits (scoring; small N).
void logprobs_forward(float* logprob, // [N] log softmax(h_r W^T)[target_r] (0 where target < 0)
                      float* logits,  // [N, V] or null
                      const float* h, const float* W, const int32_t* targets, int N, int C, int V);

// ---- LoRA (ops/lora.cc): y += scale * (x A^T) B^T
void lora_forward(float* y,       // [N, out] (+=)
                  float* u,       // [N, r] x A^T (saved for backward)
                  const float* x, // [N, in]
                  const float* A, // [r, in]
                  const float* B, // [out, r]
                  int N, int in, int out, int r, float scale);
// dA += (scale dy B)^T x ; dB += scale dy^T u ; dx += (scale dy B) A (when dx non-null; dA/dB may be null for frozen).
void lora_backward(float* dA,       // [r, in] (+=) or null
                   float* dB,       // [out, r] (+=) or null
                   float* dx,       // [N, in] (+=) or null
                   float* du,       // [N, r] scratch
                   const float* dy, // [N, out]
                   const float* x,  // [N, in] (the dropped-out input the forward saw)
                   const float* u,  // [N, r] (only needed for dB)
                   const float* A, const float* B, int N, int in, int out, int r, float scale,
                   float* dAT = nullptr); // [in, r] scratch: when given, dA comes from the faster x^T du product
                                          // (another summation order; the trainer passes it in both compute modes)
// The two halves of lora_backward: du = scale dy B and dx += du A (row-separable: rows [t0, t1) need only those rows,
// so they can ride in the frozen product's region, FrozenLinear::RowHook); then dA, dB from the finished du.
void lora_backward_input(float* dx, float* du, const float* dy, const float* A, const float* B, int N, int in, int out,
                         int r, float scale);
void lora_weight_grads(float* dA, float* dB, const float* du, const float* dy, const float* x, const float* u, int N,
                       int in, int out, int r, float scale, float* dAT = nullptr);
// ---- LoRA in bf16 compute (ops/lora_bf16.cc): the trainable adapters of g projections that read one input x
// (q/k/v, gate/up, or g = 1), every product with bf16 operands and fp32 accumulation (oneDNN), as torch autocast
// does; LoRA weights, their gradients and the saved u stay fp32. The B-side forward product and the A-side input
// gradient are folded into the frozen projection's own matmul as extra K (FrozenLinear::*_aug): no separate pass
// over y or dx. The weight-gradient products are laid out untransposed (u^T dy, du^T x), which oneDNN runs ~2.7x
// faster than the transposed-A form.
struct LoraGroup {
  int g, r, in;          // projections, rank, input width
  const int* outs;       // [g] output widths
  const float* const* A; // [g] of [r, in]
  const float* const* B; // [g] of [out_j, r]
  float scale;
};
// Forward, A side: u_cat = x A_cat^T [N, g r] from xa16 [N, in + g r] (x in its first `in` columns), written as
// bf16 into xa16's last g r columns (the folded frozen products read them there) and kept in lus[j] (fp32, when
// non-null) for the backward. ucat: [N, g r] scratch.
void lora_group_project_bf16(const LoraGroup& G, uint16_t* xa16, int N, float* ucat, float* const* lus);
// The same with LoRA dropout: projection j's u from its own dropped input xd16[j] [N, in] (bf16).
void lora_group_project_dropout_bf16(const LoraGroup& G, uint16_t* xa16, const uint16_t* const* xd16, int N,
                                     float* ucat, float* const* lus);
// Projection j's extra forward weights E_j [out_j, g r] in bf16: scale B_j in columns [j r, j r + r), zeros
// elsewhere (valid until the next call).
const uint16_t* lora_extra_cols_bf16(const LoraGroup& G, int j);
// Backward, output side of projection j, from dy16 = bf16(dy_j) [N, out_j] (row stride lddy): du_j = scale dy_j B_j
// goes to columns [j r, j r + r) of du_cat and as bf16 to du16 [N, r] (row stride lddu: the folded input gradient
// dx = [dy | du] [W ; A] reads it there; may be null); dB_j += scale dy_j^T u_j.
void lora_out_backward_bf16(const LoraGroup& G, int j, const uint16_t* dy16, int lddy, const float* u, int N, float* dB,
                            float* du_cat, uint16_t* du16, int lddu);
// A_cat [g r, in] in bf16: the group's extra input-gradient rows (valid until the next call).
const uint16_t* lora_A_bf16(const LoraGroup& G);
// Backward, input side once per group: dA_j += du_j^T x, with x16 [N, in] (row stride ldx).
void lora_in_backward_bf16(const LoraGroup& G, const uint16_t* x16, int ldx, const float* du_cat, int N,
                           float* const* dA);

// With LoRA dropout, the input side of projection j on its own dropped input xd16 [N, in]: dA_j += du_j^T xd,
// dxd [N, in] = du_j A_j (the gradient of the dropped input; the caller applies the mask).
void lora_in_backward_one_bf16(const LoraGroup& G, int j, const uint16_t* xd16, const float* du_cat, int N, float* dA,
                               float* dxd);

// Inverted dropout with a counter-based mask: out = x * keep / (1-p), keep drawn from (seed, stream, index).
void dropout_forward(float* out, const float* x, size_t n, float p, uint64_t seed, uint64_t stream);
// The same dropped values written as bf16 (the bf16 LoRA's input).
void dropout_forward_bf16(uint16_t* out, const float* x, size_t n, float p, uint64_t seed, uint64_t stream);
// Same mask applied to a gradient: dx += dout * keep / (1-p).
void dropout_backward(float* dx, const float* dout, size_t n, float p, uint64_t seed, uint64_t stream);

} // namespace peft::ops
