// LoRA training on the CPU backend: masked causal-LM loss per micro-batch, gradient accumulation, global-norm
// clipping (torch clip_grad_norm_ semantics) and AdamW exactly as torch computes it; optimizer state save/load.
#pragma once
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>
#include "llama.h"

namespace peft {

struct TrainOptions {
  float weight_decay = 0.f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float max_grad_norm = 0.f; // <= 0: no clipping
  bool token_weighted =
      false; // false: mean of micro-batch means (HF Trainer / the reference); true: mean over all tokens of the step
  bool recompute = false;      // recompute each layer's activations in the backward pass
  double act_budget_bytes = 0; // with recompute: leading layers keep their activations while they fit in this
  float dropout = 0.f;         // LoRA dropout on the trainable adapter's input
  uint64_t seed = 0;           // dropout masks
  // Weight of the MoE router load-balancing loss (moe/moe_aux.h) in the training loss; < 0: the model config's, as
  // transformers (router_aux_loss_coef when output_router_logits is true, else 0). 0: off, bit-identical to no MoE aux.
  double router_aux_coef = -1;
};

struct StepResult {
  double loss = 0; // mean of micro-batch means (or token-weighted mean)
  std::vector<double> micro_losses;
  double grad_norm = 0;  // before clipping
  float clip_coef = 1.f; // max_norm / (norm + 1e-6) (1 when clipping is off)
  bool clipped = false;  // clip_coef < 1
  long tokens = 0;       // target tokens in the step
  // MoE router load-balancing loss (when the trainer's coefficient is > 0): its mean over the micro-batches, unscaled
  // (transformers' aux_loss); loss and micro_losses then include coef * aux, as transformers' loss does.
  bool has_aux = false;
  double aux_loss = 0;
};

// Builds per-row targets [B*T] from labels [B, T]: target[b,t] = labels[b,t+1], -1 when ignored or t = T-1.
// Returns the number of targets; throws E_ENGINE on labels outside {-100} u [0, V).
long shift_labels(std::vector<int32_t>& targets, const int32_t* labels, int B, int T, int V);

class Trainer {
 public:
  Trainer(std::shared_ptr<LlamaModel> model, std::shared_ptr<Adapter> adapter, float weight,
          std::vector<std::pair<std::shared_ptr<Adapter>, float>> frozen, TrainOptions opt);
  // One optimizer step over G micro-batches of [B, T] ids / labels (contiguous, micro-batch major). lengths [G B]
  // (optional): the real tokens of each right-padded row (the attention mask: padding rows do not count in the MoE
  // load-balancing loss); null = every position is a real token.
  StepResult step(const int32_t* ids, const int32_t* labels, int G, int B, int T, float lr,
                  const int32_t* lengths = nullptr);
  // Gradients of the step's loss into gradients() (no clipping, no update); returns losses and the norm.
  StepResult accumulate(const int32_t* ids, const int32_t* labels, int G, int B, int T,
                        const int32_t* lengths = nullptr);
  double router_aux_coef() const { return aux_coef_; }
  Adapter& gradients() { return *grad_; }
  // Mean loss of each micro-batch, no update (evaluation).
  std::vector<double> eval(const int32_t* ids, const int32_t* labels, int G, int B, int T);
  long steps_done() const { return t_; }
  void set_steps_done(long t) { t_ = t; }
  std::shared_ptr<Adapter> adapter() const { return stack_.train; }
  Adapter& exp_avg() { return *m_; }
  Adapter& exp_avg_sq() { return *v_; }
  std::atomic<bool> cancel{false};
  size_t planned_bytes() const { return ws_.planned_bytes() + head16_.size() * sizeof(uint16_t); }
  // The MoE side buffers: bytes planned (in planned_bytes) and held now (moe/moe.h), equal unless a pass outgrew the plan.
  size_t moe_planned_bytes() const { return ws_.side_bytes; }
  size_t moe_held_bytes() const;
  const TrainOptions& options() const { return opt_; }
  // Layers recomputed in the backward pass of the planned workspace (0 without recompute; the last never is).
  int recomputed_layers() const { return ws_.training ? std::max(0, model_->cfg.num_layers - ws_.kept - 1) : 0; }

 private:
  void ensure_workspace(int B, int T, bool training);
  double micro_loss(const int32_t* ids, const int32_t* labels, int B, int T, float grad_scale_per_token, bool backward,
                    long* ntok, const int32_t* lengths = nullptr, double aux_grad = 0, double* aux = nullptr);
  std::shared_ptr<LlamaModel> model_;
  AdapterStack stack_;
  TrainOptions opt_;
  std::shared_ptr<Adapter> grad_, m_, v_;
  Workspace ws_;
  std::vector<uint16_t> head16_;  // lm_head in bf16 (bf16 compute only, when the model has no head16 of its own)
  const uint16_t* head16() const; // the bf16 head the cross-entropy reads: the model's, else head16_; null in fp32
  bool ws_training_ = false;
  long t_ = 0;          // optimizer steps done
  double aux_coef_ = 0; // router load-balancing loss weight (TrainOptions::router_aux_coef resolved)
};

} // namespace peft
