// The Llama-family model (Llama 2/3, Mistral, Qwen2, SmolLM) on a Backend (backend/backend.h): frozen weights, LoRA
// adapter stacks, and the forward / backward passes over a batch of B sequences of T tokens, with an optional KV cache.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include "arena.h"
#include "backend/backend.h"
#include "kernels/linear.h"
#include "model/config.h"
#include "ops/ops.h"

namespace peft {

enum Proj { P_Q, P_K, P_V, P_O, P_GATE, P_UP, P_DOWN, N_PROJ };
extern const char* const PROJ_NAMES[N_PROJ];  // "q_proj", ..., "down_proj"
extern const char* const PROJ_PARENT[N_PROJ]; // "self_attn" or "mlp"

struct MoeBlock;     // moe/moe.h: router + experts of a sparse MoE layer
struct MoeWorkspace; // moe/moe.h: its saved activations and scratch

struct LlamaLayer {
  std::vector<float> ln1, ln2;                                  // [H] input_layernorm, post_attention_layernorm
  std::array<std::unique_ptr<kern::FrozenLinear>, N_PROJ> proj; // gate/up/down null in a MoE layer
  std::vector<float> ln1_b, ln2_b;                              // [H] LayerNorm biases (gpt2; empty otherwise)
  std::vector<float> q_norm, k_norm;                            // [Dq], [Dkv] when cfg.qk_norm (MiniMax-M2)
  std::shared_ptr<MoeBlock> moe;                                // instead of the dense MLP when cfg.num_experts > 0
};

struct LlamaModel {
  ModelConfig cfg;
  std::string dir;
  kern::Storage storage = kern::Storage::F32;
  kern::Compute compute = kern::Compute::F32;
  std::vector<float> embed;     // [V, H]
  std::vector<float> lm_head;   // [V, H], empty when tied to embed
  std::vector<float> norm;      // [H]
  std::vector<uint16_t> head16; // [V, H] the head in bf16 (bf16 compute: read by decoding), else empty
  // int8 compute (enable_int8_decoding): decoding runs NF4 projections in int8 (decode/rows_int8.h) and the head from
  // head8 [V, H] int8 with its scales head8_d (per 32 inputs, by groups of 8 rows: decode/rows_variants.h; empty when
  // H % 32 != 0: the fp32 head); the rest as fp32 compute.
  bool int8 = false;
  std::vector<int8_t> head8;
  std::vector<float> head8_d;
  std::vector<LlamaLayer> layers;
  // GPT-2 family (gpt2_load.cc): P_Q is the fused c_attn ([3 Dq] out: q | k | v), P_O attn.c_proj, P_UP mlp.c_fc,
  // P_DOWN mlp.c_proj; P_K, P_V, P_GATE are absent (null). LayerNorms carry biases; positions are learned.
  std::vector<float> pos_embed; // [n_positions, H] transformer.wpe (gpt2)
  std::vector<float> norm_b;    // [H] ln_f bias (gpt2)
  bool gpt2() const { return cfg.gpt2; }
  const Backend* backend = &cpu_backend(); // runs every op of the forward / backward (backend/backend.h)
  const Backend& be() const { return *backend; }
  const float* head() const { return lm_head.empty() ? embed.data() : lm_head.data(); }
  int H() const { return cfg.hidden_size; }
  int Dq() const { return cfg.num_heads * cfg.head_dim; }
  int Dkv() const { return cfg.num_kv_heads * cfg.head_dim; }
  int I() const { return cfg.intermediate_size; }
  // LoRA module slots of a layer: the N_PROJ projections, then one per expert linear (moe/moe.h: N_PROJ + 3 e + j,
  // j = 0 w1 [I, H], 1 w2 [H, I], 2 w3 [I, H]).
  int n_slots() const { return N_PROJ + 3 * cfg.num_experts; }
  int proj_in(int p) const {
    if (p >= N_PROJ) return (p - N_PROJ) % 3 == 1 ? I() : H();
    return p == P_O ? Dq() : p == P_DOWN ? I() : H();
  }
  int proj_out(int p) const {
    if (p >= N_PROJ) return (p - N_PROJ) % 3 == 1 ? H() : I();
    return p == P_Q                     ? (cfg.gpt2 ? 3 * Dq() : Dq())
           : (p == P_K || p == P_V)     ? Dkv()
           : (p == P_GATE || p == P_UP) ? I()
                                        : H();
  }
  size_t frozen_bytes() const; // all frozen weights as stored (llama_load.cc)
  size_t params() const;       // frozen parameter count
};

// One LoRA module: A [r, in], B [out, r] (PEFT layout).
struct LoraWeights {
  std::vector<float> A, B;
};

// A LoRA adapter over the whole model: per layer, per projection, a module or null when not targeted.
struct Adapter {
  std::string name;
  int r = 0;
  double alpha = 0;
  bool rslora = false;
  bool gpt2 = false; // on a GPT-2 model: PEFT's transformer.h.{i}.attn.c_attn / ... names (adapter_io.cc)
  std::vector<std::vector<std::unique_ptr<LoraWeights>>> mods; // [num_layers][model.n_slots()]
  float scaling() const;                                       // alpha / r, or alpha / sqrt(r) with rsLoRA
  LoraWeights* mod(int l, int p) const { return (size_t)p < mods[l].size() ? mods[l][p].get() : nullptr; }
  size_t params() const;
};
// Zero-initialised adapter with modules on the given projections (and, in a MoE model, on every expert's w1 / w2 / w3
// where expert_targets[j] is set), shaped for `m`.
std::shared_ptr<Adapter> make_adapter(const LlamaModel& m, int r, double alpha, bool rslora, const bool targets[N_PROJ],
                                      const bool* expert_targets = nullptr);
// Same modules and shapes as `a`, all zero (for gradients and optimizer moments).
std::shared_ptr<Adapter> zeros_like(const Adapter& a);

// The adapters active in one forward: frozen ones with their effective scales, at most one trainable one.
struct AdapterStack {
  std::vector<std::pair<std::shared_ptr<Adapter>, float>> frozen; // adapter, effective scale (scaling * weight)
  std::shared_ptr<Adapter> train;                                 // may be null
  float train_scale = 0.f;
  float dropout = 0.f;         // on the trainable adapter's input (training only)
  uint64_t seed = 0, step = 0; // dropout mask stream
  int max_rank() const;
};

// Cached keys / values for incremental decoding (batch 1).
struct KVCache {
  int max_len = 0, len = 0;
  std::vector<float> k, v; // [L, max_len, Dkv] each, keys after RoPE
  void init(const LlamaModel& m, int max_len_);
};

// Saved activations of one layer (pointers into the activation arena). The norm outputs and silu(gate)*up are not
// kept: the backward recomputes them (one cheap pass each) from the saved inputs, which makes a layer ~2x smaller
// and leaves room to keep more layers instead of recomputing their matmuls.
struct LayerActs {
  float* rstd1;                             // [N]
  float *mean1 = nullptr, *mean2 = nullptr; // [N] LayerNorm means (gpt2)
  float *q, *k, *v;                         // [N, Dq], [N, Dkv], [N, Dkv] (q, k after RoPE)
  float *att, *lse;                         // [N, Dq], [B, nh, T]
  float *x2, *rstd2;                        // [N, H] residual after attention, [N]
  float *g, *u;                             // [N, I] gate, up
  // bf16-compute training: q, k, v, att, g, u above point to one shared set of fp32 buffers and the layer keeps them
  // in these bf16 copies (as autocast keeps matmul outputs); null otherwise (fp32 compute, inference).
  uint16_t *q16 = nullptr, *k16 = nullptr, *v16 = nullptr, *att16 = nullptr, *g16 = nullptr, *u16 = nullptr;
  float* lu[N_PROJ]; // [N, r] trainable LoRA A-projections (null where not targeted)
};

// Memory and activations of one forward (and backward) over B x T tokens, planned up front.
struct Workspace {
  int B = 0, T = 0, N = 0;
  bool recompute = false, training = false;
  Arena acts{"activations"}, resid_arena{"residual"}, scratch{"scratch"};
  std::vector<LayerActs> layer; // kept entries, plus one shared slot for the recomputed layers (or inference)
  int kept = 0;                 // layers 0..kept-1 keep their activations from the forward; the rest are recomputed
  std::vector<float*> resid;    // L+1 pointers to [N, H] (layer inputs; resid[L] = last layer output)
  float *lnf, *rstdf;           // [N, H], [N] final norm
  float* meanf = nullptr;       // [N] final LayerNorm mean (gpt2)
  float* qkv = nullptr;         // [N, 3 Dq] gpt2's fused c_attn output, and its gradient in the backward
  // scratch
  float *dres, *dln, *dq, *dk, *dv, *datt, *dg, *du, *dh; // gradients [N, *]
  float *lora_u, *lora_du;                                // [N, rmax]
  float* lora_dAT = nullptr;         // [max_in, rmax] (training: dA^T of the per-projection bf16-mode LoRA backward)
  float* lora_ucat = nullptr;        // [N, 3 rmax] A-projections of a LoRA group (bf16 mode)
  float* lora_ducat = nullptr;       // [N, 3 rmax] their gradients (training)
  float *xdrop, *dxdrop;             // [N, max_in] (LoRA dropout only)
  float* ln;                         // [N, H] the current norm output (forward; recomputed in the backward)
  float* h;                          // [N, I] silu(gate) * up (forward; recomputed in the backward)
  float *gs, *us;                    // [N, I] fp32 gate / up when the layer keeps them in bf16 (else null)
  float* tmp_out;                    // [N, H] (recomputed layer output)
  float* ce_work = nullptr;          // the MLP region of the scratch, lent to the bf16 cross-entropy while it runs
  size_t ce_work_floats = 0;         // 0: not planned for it (fp32 compute, inference)
  ops::RopeTable rope;               // cos/sin of this forward's positions
  std::shared_ptr<MoeWorkspace> moe; // MoE / MiniMax-M2 side activations (moe/moe.h); null for a dense model
  int pos0 = 0;
  size_t side_bytes = 0; // the MoE side buffers, reserved up front for N rows (moe/moe.h moe_workspace)
  size_t planned_bytes() const { return acts.bytes() + resid_arena.bytes() + scratch.bytes() + side_bytes; }
  // Plans the arenas for B x T (inference: training = false keeps one layer of activations, no gradients).
  // With recompute, as many leading layers as fit in act_budget bytes (shared slot included) keep their activations.
  void plan(const LlamaModel& m, const AdapterStack& st, int B, int T, bool training, bool recompute,
            size_t act_budget = 0);
  bool recomputed(int l) const { return l >= kept; }
  LayerActs& acts_of(int l) { return layer[recomputed(l) ? kept : l]; }
};

// Embeddings, every layer and the final norm for ids [B, T] (positions pos0.. when a cache is given, B = 1).
// Leaves ws.lnf = final hidden states. `targets` is unused here (the loss is separate).
void llama_forward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, const int32_t* ids, int B, int T,
                   KVCache* cache);
// Backward from d(lnf) (in ws.dln on entry) to the trainable adapter's gradients `grad` (accumulated).
void llama_backward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, Adapter& grad);

} // namespace peft
