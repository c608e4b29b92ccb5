// The CPU backend: the Backend interface over the engine's own kernels (ops/: norms, RoPE, attention, SwiGLU,
// cross-entropy, LoRA, dropout; kernels/: FrozenLinear matmuls with NF4 / bf16 storage, sgemm, oneDNN bf16, the pool).
#include <algorithm>
#include <cmath>
#include <cstring>
#include "adamw.h"
#include "backend/backend.h"
#include "decode/rows_int8.h"
#include "decode/rows_matmul.h"
#include "error.h"
#include "kernels/decode_rows.h"
#include "kernels/kernels.h"
#include "kernels/vexp.h"

namespace peft {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  std::string info() const override { return kern::backend_info(); }
  bool bf16_native() const override { return kern::bf16_native(); }

  void zero(float* x, size_t n) const override { std::memset(x, 0, n * sizeof(float)); }
  void embed_rows(float* out, const float* table, const int32_t* ids, int N, int C) const override {
    for (int r = 0; r < N; r++) std::memcpy(out + (size_t)r * C, table + (size_t)ids[r] * C, C * sizeof(float));
  }
  void copy_rows(float* dst, const float* src, int N, int C) const override {
    std::memcpy(dst, src, (size_t)N * C * sizeof(float));
  }
  // over the pool (the residual adds)
  void add_inplace(float* y, const float* x, int N, int C) const override {
    ops::par_rows(N, (size_t)C, [&](int b, int e) {
      for (size_t i = (size_t)b * C; i < (size_t)e * C; i++) y[i] += x[i];
    });
  }
  void scale_inplace(float* x, size_t n, float c) const override {
    for (size_t i = 0; i < n; i++) x[i] *= c;
  }
  double row_log_sum_exp(const float* logits, int V) const override {
    const float mx = kern::vmax(logits, (size_t)V);
    return (double)mx + std::log(kern::vsumexp(logits, (size_t)V, mx));
  }
  double sum_squares(const float* x, size_t n) const override {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
  }
  void f32_to_bf16(const float* x, uint16_t* y, size_t n) const override { kern::f32_to_bf16(x, y, n); }
  void rows_to_bf16(const float* src, int lds, int N, int cols, uint16_t* dst, int ldd) const override {
    ops::rows_to_bf16(src, lds, N, cols, dst, ldd);
  }
  // Chunks of 64K values over all the tensors, split over the pool.
  void convert_bf16(const Bf16Pair* t, int count, bool to_bf16) const override {
    const size_t chunk = 1 << 16;
    std::vector<size_t> start(count + 1, 0);
    for (int j = 0; j < count; j++) start[j + 1] = start[j] + (t[j].n + chunk - 1) / chunk;
    kern::parallel_for((int)start[count], [&](int b, int e) {
      for (int c = b; c < e; c++) {
        int j = 0;
        while (c >= (int)start[j + 1]) j++;
        const size_t i0 = (c - start[j]) * chunk, n = std::min(t[j].n - i0, chunk);
        if (to_bf16)
          kern::f32_to_bf16(t[j].f32 + i0, t[j].bf16 + i0, n);
        else
          kern::bf16_to_f32(t[j].bf16 + i0, t[j].f32 + i0, n);
      }
    });
  }

  void linear_forward(const kern::FrozenLinear& w, float* y, const float* x, int T, kern::Compute mode) const override {
    w.forward(y, x, T, mode);
  }
  void linear_backward_input(const kern::FrozenLinear& w, float* dx, const float* dy, int T,
                             kern::Compute mode) const override {
    w.backward_input(dx, dy, T, mode);
  }
  void linear_forward_bf16_aug(const kern::FrozenLinear& w, float* y, const uint16_t* xa16, int T, const uint16_t* E,
                               int ke) const override {
    w.forward_bf16_aug(y, xa16, T, E, ke);
  }
  void linear_backward_input_group_bf16(const kern::FrozenLinear* const* ls, int g, float* dx, const uint16_t* dya16,
                                        int T, const uint16_t* F, int kf, bool accumulate) const override {
    kern::FrozenLinear::backward_input_group_bf16(ls, g, dx, dya16, T, F, kf, accumulate);
  }
  void gemv_rows_f32(const float* W, int out, int in, const float* x, int T, float* y) const override {
    kern::gemv_rows_f32(W, out, in, x, T, y);
  }

  // Decoding: output rows in chunks of DECODE_CHUNK per task, all the call's projections in one region.
  // 64: four groups of an NF4 weight's interleaved layout, whose FMA chains a one-row product runs side by side.
  static constexpr int DECODE_CHUNK = 64;
  // The input as the NF4 bodies read it (transposed) and as the bf16 bodies do (their pair order), each made when a
  // weight is read so (once per call, before the region: the NF4 weights' interleaved layouts are built then too).
  struct Prepared {
    const float* nf4 = nullptr;
    const float* bf16 = nullptr;
    const float* for_weight(const kern::FrozenLinear& w) const {
      return w.storage() == kern::Storage::NF4 ? nf4 : bf16;
    }
  };
  static Prepared prepare(const kern::FrozenLinear* const* ws, int n, const float* x, int T, bool bf16) {
    thread_local std::vector<float> xt, xn;
    Prepared p;
    for (int j = 0; j < n; j++)
      if (ws[j]->storage() == kern::Storage::NF4) {
        if (!p.nf4) p.nf4 = kern::decode_prepare_nf4(x, T, ws[j]->in(), xt); // the input once (the weights share it)
        ws[j]->nf4_interleaved(); // each weight's layout built outside the region (its tasks only read it)
      } else if (!p.bf16 && (ws[j]->storage() == kern::Storage::BF16 || (bf16 && ws[j]->bf16_data()))) {
        kern::decode_prepare_bf16(x, T, ws[j]->in(), xn);
        p.bf16 = xn.data();
      }
    return p;
  }
  bool decode_supported(const kern::FrozenLinear& w) const override { return kern::decode_rows_supported(w); }
  void decode_linear_group(const kern::FrozenLinear* const* ws, float* const* ys, int n, const float* x, int T,
                           const float* resid, bool bf16) const override {
    int start[8] = {0};
    if (n < 1 || n > 7) throw EngineError("E_INTERNAL", "decode_linear_group: 1 to 7 projections");
    for (int j = 0; j < n; j++) start[j + 1] = start[j] + (ws[j]->out() + DECODE_CHUNK - 1) / DECODE_CHUNK;
    const Prepared xp = prepare(ws, n, x, T, bf16);
    kern::parallel_for_dynamic(start[n], [&](int b, int e) {
      for (int c = b; c < e; c++) {
        int j = 0;
        while (c >= start[j + 1]) j++;
        const int out = ws[j]->out(), o0 = (c - start[j]) * DECODE_CHUNK, o1 = std::min(out, o0 + DECODE_CHUNK);
        kern::decode_rows(*ws[j], x, xp.for_weight(*ws[j]), T, ys[j], o0, o1, bf16);
        if (j == 0 && resid)
          for (int t = 0; t < T; t++)
            for (int o = o0; o < o1; o++) ys[0][(size_t)t * out + o] += resid[(size_t)t * out + o];
      }
    });
  }
  void decode_gate_up_swiglu(const kern::FrozenLinear& gate, const kern::FrozenLinear& up, const float* x, int T,
                             float* g, float* u, float* h, bool bf16) const override {
    const int I = gate.out();
    if (up.out() != I) throw EngineError("E_INTERNAL", "decode_gate_up_swiglu: gate and up differ in size");
    const kern::FrozenLinear* ws[2] = {&gate, &up};
    const Prepared xp = prepare(ws, 2, x, T, bf16);
    kern::parallel_for_dynamic((I + DECODE_CHUNK - 1) / DECODE_CHUNK, [&](int b, int e) {
      const int o0 = b * DECODE_CHUNK, o1 = std::min(I, e * DECODE_CHUNK);
      kern::decode_rows(gate, x, xp.for_weight(gate), T, g, o0, o1, bf16);
      kern::decode_rows(up, x, xp.for_weight(up), T, u, o0, o1, bf16);
      for (int t = 0; t < T; t++) {
        const size_t r = (size_t)t * I + o0;
        ops::swiglu_forward(h + r, g + r, u + r, (size_t)(o1 - o0), true); // element-wise: same values as whole rows
      }
    });
  }
  void decode_matvec_f32(const float* W, int out, int in, const float* x, int T, float* y) const override {
    kern::parallel_for_dynamic((out + DECODE_CHUNK - 1) / DECODE_CHUNK, [&](int b, int e) {
      kern::decode_rows_f32(W, out, in, x, T, y, b * DECODE_CHUNK, std::min(out, e * DECODE_CHUNK));
    });
  }
  void decode_matvec_bf16(const uint16_t* W, int out, int in, const float* x, int T, float* y) const override {
    thread_local std::vector<float> xn;
    kern::decode_prepare_bf16(x, T, in, xn);
    // The pointer, not the name: inside the pool's threads `xn` would name each worker's own (empty) thread_local.
    const float* xp = xn.data();
    kern::parallel_for_dynamic((out + DECODE_CHUNK - 1) / DECODE_CHUNK, [&](int b, int e) {
      kern::decode_rows_bf16(W, out, in, x, xp, T, y, b * DECODE_CHUNK, std::min(out, e * DECODE_CHUNK));
    });
  }
  // Batched decoding (decode/): the pooled rows of a decoder step, NF4 tiles decoded once per step.
  void decode_rows_linear(const kern::FrozenLinear& w, float* y, const float* x, int T, bool bf16) const override {
    decode::rows_matmul(w, x, T, y, bf16);
  }
  void decode_rows_linear_int8(const kern::FrozenLinear& w, float* y, const float* x, int T) const override {
    decode::rows_matmul_int8(w, x, T, y);
  }
  void decode_rows_linear_int8_group(const kern::FrozenLinear* const* ws, float* const* ys, int n, const float* x,
                                     int T) const override {
    decode::rows_matmul_int8_group(ws, ys, n, x, T);
  }
  void decode_rows_q8(const int8_t* Wq, const float* Wd, int out, int in, const float* x, int T,
                      float* y) const override {
    decode::rows_matmul_q8(Wq, Wd, out, in, x, T, y);
  }
  void quantize_q8_rows(const float* W, int rows, int in, std::vector<int8_t>& q,
                        std::vector<float>& d) const override {
    decode::quantize_q8_rows(W, rows, in, q, d);
  }
  bool decode_rows_bf16_available() const override { return decode::rows_bf16_available(); }
  void decode_rows_bf16(const uint16_t* W, int out, int in, const float* x, int T, float* y) const override {
    decode::rows_matmul_bf16(W, out, in, x, T, y);
  }
  void decode_rows_f32(const float* W, int out, int in, const float* x, int T, float* y) const override {
    decode::rows_matmul_f32(W, out, in, x, T, y);
  }
  void decode_attention_rows(const decode::AttnRow* rows, int n, int nh, int nkv, int hd, int window) const override {
    decode::attention_rows(rows, n, nh, nkv, hd, window);
  }

  void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int N, int C,
                       float eps) const override {
    ops::rmsnorm_forward(out, rstd, x, w, N, C, eps);
  }
  void add_rmsnorm_forward(float* x2, const float* x, float* out, float* rstd, const float* w, int N, int C,
                           float eps) const override {
    ops::add_rmsnorm_forward(x2, x, out, rstd, w, N, C, eps);
  }
  void rmsnorm_apply(float* out, const float* x, const float* w, const float* rstd, int N, int C) const override {
    ops::rmsnorm_apply(out, x, w, rstd, N, C);
  }
  void rmsnorm_apply_bf16(uint16_t* out, const float* x, const float* w, const float* rstd, int N,
                          int C) const override {
    ops::rmsnorm_apply_bf16(out, x, w, rstd, N, C);
  }
  void rmsnorm_backward(float* dx, const float* dout, const float* x, const float* w, const float* rstd, int N,
                        int C) const override {
    ops::rmsnorm_backward(dx, dout, x, w, rstd, N, C);
  }

  void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b, int N,
                         int C, float eps) const override {
    ops::layernorm_forward(out, mean, rstd, x, w, b, N, C, eps);
  }
  void layernorm_apply(float* out, const float* x, const float* w, const float* b, const float* mean, const float* rstd,
                       int N, int C) const override {
    ops::layernorm_apply(out, x, w, b, mean, rstd, N, C);
  }
  void layernorm_backward(float* dx, const float* dout, const float* x, const float* w, const float* mean,
                          const float* rstd, int N, int C) const override {
    ops::layernorm_backward(dx, dout, x, w, mean, rstd, N, C);
  }
  void gelu_new_forward(float* h, const float* u, size_t n) const override { ops::gelu_new_forward(h, u, n); }
  void gelu_new_backward(float* du, const float* dh, const float* u, size_t n) const override {
    ops::gelu_new_backward(du, dh, u, n);
  }
  void copy_cols(float* dst, int ldd, const float* src, int lds, int N, int C) const override {
    for (int r = 0; r < N; r++) std::memcpy(dst + (size_t)r * ldd, src + (size_t)r * lds, (size_t)C * sizeof(float));
  }

  void rope_forward(float* x, const ops::RopeTable& tab, int N, int T, int nheads, int hd) const override {
    ops::rope_forward(x, tab, N, T, nheads, hd);
  }
  void rope_backward(float* dx, const ops::RopeTable& tab, int N, int T, int nheads, int hd) const override {
    ops::rope_backward(dx, tab, N, T, nheads, hd);
  }

  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                         const ops::AttnShape& s) const override {
    ops::attention_forward(out, lse, q, k, v, s);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                          const float* k, const float* v, const float* lse, const ops::AttnShape& s) const override {
    ops::attention_backward(dq, dk, dv, dout, out, q, k, v, lse, s);
  }

  void swiglu_forward(float* h, const float* g, const float* u, size_t n, bool fast) const override {
    ops::swiglu_forward(h, g, u, n, fast);
  }
  void swiglu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, size_t n,
                       bool fast) const override {
    ops::swiglu_backward(dg, du, dh, g, u, n, fast);
  }
  void swiglu_forward_keep_bf16(float* h, const float* g, const float* u, uint16_t* g16, uint16_t* u16,
                                size_t n) const override {
    ops::swiglu_forward_keep_bf16(h, g, u, g16, u16, n);
  }
  void swiglu_forward_from_bf16(float* h, const uint16_t* g16, const uint16_t* u16, size_t n) const override {
    ops::swiglu_forward_from_bf16(h, g16, u16, n);
  }
  void swiglu_backward_from_bf16(float* dg, float* du, const float* dh, const uint16_t* g16, const uint16_t* u16,
                                 size_t n) const override {
    ops::swiglu_backward_from_bf16(dg, du, dh, g16, u16, n);
  }
  void swiglu_forward_bf16_to_bf16(uint16_t* h16, const uint16_t* g16, const uint16_t* u16, size_t n) const override {
    ops::swiglu_forward_bf16_to_bf16(h16, g16, u16, n);
  }

  double cross_entropy_forward_backward(float* dh, const float* h, const float* W, const uint16_t* W16,
                                        const int32_t* targets, int N, int C, int V, float grad_scale, float* work,
                                        size_t work_floats) const override {
    return ops::cross_entropy_forward_backward(dh, h, W, W16, targets, N, C, V, grad_scale, work, work_floats);
  }
  size_t cross_entropy_bf16_work_floats(int N, int C, int V) const override {
    return ops::cross_entropy_bf16_work_floats(N, C, V);
  }
  void logprobs_forward(float* logprob, float* logits, const float* h, const float* W, const int32_t* targets, int N,
                        int C, int V) const override {
    ops::logprobs_forward(logprob, logits, h, W, targets, N, C, V);
  }

  void lora_forward(float* y, float* u, const float* x, const float* A, const float* B, int N, int in, int out, int r,
                    float scale) const override {
    ops::lora_forward(y, u, x, A, B, N, in, out, r, scale);
  }
  void lora_backward(float* dA, float* dB, float* dx, float* du, const float* dy, const float* x, const float* u,
                     const float* A, const float* B, int N, int in, int out, int r, float scale,
                     float* dAT) const override {
    ops::lora_backward(dA, dB, dx, du, dy, x, u, A, B, N, in, out, r, scale, dAT);
  }
  void linear_lora_forward(const kern::FrozenLinear& w, float* y, const float* x, int T, kern::Compute mode, float* u,
                           const float* A, const float* B, int r, float scale) const override {
    const int in = w.in(), out = w.out();
    const kern::FrozenLinear::RowHook lora = [&](int t0, int t1) {
      ops::lora_forward(y + (size_t)t0 * out, u + (size_t)t0 * r, x + (size_t)t0 * in, A, B, t1 - t0, in, out, r,
                        scale);
    };
    w.forward(y, x, T, mode, &lora);
  }
  void linear_lora_backward_input(const kern::FrozenLinear& w, float* dx, const float* dy, int T, kern::Compute mode,
                                  float* du, const float* A, const float* B, int r, float scale) const override {
    const int in = w.in(), out = w.out();
    const kern::FrozenLinear::RowHook lora = [&](int t0, int t1) {
      ops::lora_backward_input(dx + (size_t)t0 * in, du + (size_t)t0 * r, dy + (size_t)t0 * out, A, B, t1 - t0, in, out,
                               r, scale);
    };
    w.backward_input(dx, dy, T, mode, &lora);
  }
  void lora_weight_grads(float* dA, float* dB, const float* du, const float* dy, const float* x, const float* u, int N,
                         int in, int out, int r, float scale, float* dAT) const override {
    ops::lora_weight_grads(dA, dB, du, dy, x, u, N, in, out, r, scale, dAT);
  }
  void lora_group_project_bf16(const ops::LoraGroup& G, uint16_t* xa16, int N, float* ucat,
                               float* const* lus) const override {
    ops::lora_group_project_bf16(G, xa16, N, ucat, lus);
  }
  void lora_group_project_dropout_bf16(const ops::LoraGroup& G, uint16_t* xa16, const uint16_t* const* xd16, int N,
                                       float* ucat, float* const* lus) const override {
    ops::lora_group_project_dropout_bf16(G, xa16, xd16, N, ucat, lus);
  }
  const uint16_t* lora_extra_cols_bf16(const ops::LoraGroup& G, int j) const override {
    return ops::lora_extra_cols_bf16(G, j);
  }
  void lora_out_backward_bf16(const ops::LoraGroup& G, int j, const uint16_t* dy16, int lddy, const float* u, int N,
                              float* dB, float* du_cat, uint16_t* du16, int lddu) const override {
    ops::lora_out_backward_bf16(G, j, dy16, lddy, u, N, dB, du_cat, du16, lddu);
  }
  const uint16_t* lora_A_bf16(const ops::LoraGroup& G) const override { return ops::lora_A_bf16(G); }
  void lora_in_backward_bf16(const ops::LoraGroup& G, const uint16_t* x16, int ldx, const float* du_cat, int N,
                             float* const* dA) const override {
    ops::lora_in_backward_bf16(G, x16, ldx, du_cat, N, dA);
  }
  void lora_in_backward_one_bf16(const ops::LoraGroup& G, int j, const uint16_t* xd16, const float* du_cat, int N,
                                 float* dA, float* dxd) const override {
    ops::lora_in_backward_one_bf16(G, j, xd16, du_cat, N, dA, dxd);
  }

  void dropout_forward(float* out, const float* x, size_t n, float p, uint64_t seed, uint64_t stream) const override {
    ops::dropout_forward(out, x, n, p, seed, stream);
  }
  void dropout_forward_bf16(uint16_t* out, const float* x, size_t n, float p, uint64_t seed,
                            uint64_t stream) const override {
    ops::dropout_forward_bf16(out, x, n, p, seed, stream);
  }
  void dropout_backward(float* dx, const float* dout, size_t n, float p, uint64_t seed,
                        uint64_t stream) const override {
    ops::dropout_backward(dx, dout, n, p, seed, stream);
  }

  void adamw_update(float* p, float* m, float* v, const float* g, size_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, long t) const override {
    peft::adamw_update(p, m, v, g, n, lr, beta1, beta2, eps, weight_decay, t);
  }
};

} // namespace

const Backend& cpu_backend() {
  static const CpuBackend cpu;
  return cpu;
}

} // namespace peft
