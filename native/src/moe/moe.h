// The sparse mixture-of-experts block of Mixtral and MiniMax-M2 (router + experts, forward and backward over the
// routed rows only), and MiniMax-M2's q/k RMSNorm over the full projection width; both plug into llama.cc's layers.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <vector>
#include "llama.h"

namespace peft {

enum ExpertProj { X_W1, X_W2, X_W3, N_EXPERT_PROJ };  // w1 (gate) [I, H], w2 (down) [H, I], w3 (up) [I, H]
extern const char* const EXPERT_NAMES[N_EXPERT_PROJ]; // "w1", "w2", "w3"
inline int expert_slot(int e, int j) { return N_PROJ + 3 * e + j; } // LoRA slot of expert e's linear j

// Frozen weights of one MoE layer. The router stays fp32 whatever the storage (its choices are discrete).
struct MoeBlock {
  std::unique_ptr<kern::FrozenLinear> gate;                                            // [E, H]
  std::vector<float> bias;                                                             // [E] correction bias, or empty
  std::vector<std::array<std::unique_ptr<kern::FrozenLinear>, N_EXPERT_PROJ>> experts; // [E]
};

// What one MoE layer's forward keeps for its backward (and the routing, for inspection).
struct MoeLayerActs {
  std::vector<float> scores;   // [N, E] softmax probabilities (Mixtral) or sigmoid scores (MiniMax-M2)
  std::vector<int32_t> chosen; // [N, k] experts, best selection score first
  std::vector<float> weight;   // [N, k] mixing weights (chosen scores renormalised)
  std::vector<int32_t> offset; // [E + 1] assignments of expert e: rows offset[e] .. offset[e+1] of the gathered arrays
  std::vector<int32_t> slot;   // [N k] gathered row -> t * k + j (token t, its j-th choice)
  std::vector<float> g, u, y;  // [N k, I], [N k, I], [N k, H]: expert gate / up pre-activations and outputs
  std::array<std::vector<float>, N_EXPERT_PROJ> lu; // [N k, r] trainable LoRA A-projections per expert linear
  // MiniMax-M2 q/k norm: the projections before the norm and their rstd
  std::vector<float> qpre, kpre, rstdq, rstdk;
  // Router load-balancing loss (moe/moe_aux.cc), when on: softmax of the router logits [N, E], and this layer's
  // top-k assignment counts, probability sums [E] and counted rows (padding excluded)
  std::vector<float> aux_p;
  std::vector<double> aux_count, aux_psum;
  double aux_rows = 0;
};

// Side activations of a forward (one entry per layer when training, else one reused entry) and scratch.
struct MoeWorkspace {
  bool training = false;
  std::vector<MoeLayerActs> layer;
  std::vector<int32_t>* record = nullptr;      // when set, every layer's chosen experts are appended ([L][N][k])
  std::vector<float>* record_logits = nullptr; // when set, every layer's router logits are appended ([L][N][E])
  // Router load-balancing loss (moe/moe_aux.cc): computed by training forwards while aux_on; row_mask [N] marks the
  // rows that count (1) and padding (0), empty = all; the totals over the layers (moe_aux_loss) and d(loss)/d(aux)
  // of the backward (0: no aux gradient).
  bool aux_on = false;
  std::vector<float> row_mask;
  std::vector<double> aux_count, aux_psum;
  double aux_rows = 0, aux_grad = 0;
  std::vector<float> xg, h, dyg, dh, dg, du, dxg, dlog, xd, dxd, tmp, dw; // scratch
  size_t planned = 0; // bytes reserved by moe_workspace for its N rows
  MoeLayerActs& at(int l) { return layer[training ? l : 0]; }
};

// The side workspace a model needs (null for a dense model without q/k norm). With N > 0 every buffer is reserved up
// front for N rows (the routed rows are at most N k: one per token and choice, never dense over the experts), so a
// forward / backward of up to N rows allocates nothing more; ws.planned holds those bytes (Workspace::planned_bytes
// counts them).
std::shared_ptr<MoeWorkspace> moe_workspace(const LlamaModel& m, bool training, const AdapterStack* st = nullptr,
                                            int N = 0);
// Bytes the side buffers hold now (their capacities), to check the plan against what a pass really used.
size_t moe_workspace_bytes(const MoeWorkspace& ws);

// out[N, H] = the MoE block of layer l applied to x[N, H] (the post-attention norm output), with the stack's LoRA on
// the experts. Only the routed (token, expert) rows are computed: tokens gathered per expert.
void moe_forward(const LlamaModel& m, const AdapterStack& st, MoeWorkspace& ws, int l, const float* x, int N,
                 float* out, bool training);
// dx[N, H] (overwritten) = d/dx of moe_forward given dout; trainable expert LoRA gradients accumulate into grad. The
// router is frozen: the gradient reaches x through the experts and through the mixing weights (not the choice).
void moe_backward(const LlamaModel& m, const AdapterStack& st, MoeWorkspace& ws, Adapter& grad, int l, const float* x,
                  const float* dout, float* dx, int N);

// q[N, Dq], k[N, Dkv] in place: RMSNorm over the whole row with q_norm / k_norm (inputs kept for the backward).
void qk_norm_forward(const LlamaModel& m, MoeWorkspace& ws, int l, float* q, float* k, int N);
// dq, dk in place: from d(normed) to d(projection).
void qk_norm_backward(const LlamaModel& m, MoeWorkspace& ws, int l, float* dq, float* dk, int N);

} // namespace peft
