// One LoRA training step: forward + chunked cross-entropy + backward per micro-batch, gradient accumulation
// (mean of micro-batch means by default), global-norm clipping, AdamW. Deterministic for a thread count.
#include "train.h"
#include <chrono>
#include <cmath>
#include <functional>
#include "error.h"
#include "moe/moe.h"
#include "moe/moe_aux.h"
#include "profile.h"

namespace peft {

long shift_labels(std::vector<int32_t>& targets, const int32_t* labels, int B, int T, int V) {
  targets.assign((size_t)B * T, -1);
  long n = 0;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const int32_t y = labels[(size_t)b * T + t];
      if (y != -100 && (y < 0 || y >= V))
        throw EngineError("E_ENGINE", "label " + std::to_string(y) + " at row " + std::to_string(b) + ", position " +
                                          std::to_string(t) + " is neither -100 nor a token id below " +
                                          std::to_string(V));
      if (t > 0 && y != -100) {
        targets[(size_t)b * T + t - 1] = y;
        n++;
      }
    }
  return n;
}

Trainer::Trainer(std::shared_ptr<LlamaModel> model, std::shared_ptr<Adapter> adapter, float weight,
                 std::vector<std::pair<std::shared_ptr<Adapter>, float>> frozen, TrainOptions opt)
    : model_(std::move(model)), opt_(opt) {
  stack_.frozen = std::move(frozen);
  stack_.train = std::move(adapter);
  stack_.train_scale = stack_.train->scaling() * weight;
  stack_.dropout = opt.dropout;
  stack_.seed = opt.seed;
  grad_ = zeros_like(*stack_.train);
  m_ = zeros_like(*stack_.train);
  v_ = zeros_like(*stack_.train);
  const ModelConfig& c = model_->cfg;
  aux_coef_ = opt.router_aux_coef >= 0 ? opt.router_aux_coef : c.output_router_logits ? c.router_aux_loss_coef : 0.0;
  if (c.num_experts == 0) aux_coef_ = 0;
}

void Trainer::ensure_workspace(int B, int T, bool training) {
  if (ws_.B == B && ws_.T == T && ws_training_ == training) return;
  // bf16 compute: the lm_head (or tied embedding) in bf16 once, for the chunked bf16 cross-entropy; the model's own
  // copy (made at load for decoding) when it has one - a second copy would cost V x H x 2 bytes (0.8 GB for a 3B).
  if (model_->compute == kern::Compute::BF16 && model_->be().bf16_native() && head16_.empty() &&
      model_->head16.empty()) {
    const size_t n = (size_t)model_->cfg.vocab_size * model_->H();
    head16_.resize(n);
    model_->be().f32_to_bf16(model_->head(), head16_.data(), n);
  }
  ws_.plan(*model_, stack_, B, T, training, opt_.recompute, (size_t)opt_.act_budget_bytes);
  ws_training_ = training;
}

const uint16_t* Trainer::head16() const {
  if (!(model_->compute == kern::Compute::BF16 && model_->be().bf16_native())) return nullptr;
  return !model_->head16.empty() ? model_->head16.data() : head16_.empty() ? nullptr : head16_.data();
}

double Trainer::micro_loss(const int32_t* ids, const int32_t* labels, int B, int T, float grad_scale_per_token,
                           bool backward, long* ntok, const int32_t* lengths, double aux_grad, double* aux) {
  const LlamaModel& m = *model_;
  std::vector<int32_t> targets;
  const long n = shift_labels(targets, labels, B, T, m.cfg.vocab_size);
  *ntok = n;
  ensure_workspace(B, T, backward);
  MoeWorkspace* mw = aux ? ws_.moe.get() : nullptr; // the router load-balancing loss, when asked for
  if (mw) {
    mw->aux_on = true;
    mw->aux_grad = 0;
    mw->row_mask.clear();
    if (lengths) {
      mw->row_mask.assign((size_t)B * T, 0.f);
      for (int b = 0; b < B; b++)
        for (int t = 0; t < std::min(std::max(lengths[b], 0), T); t++) mw->row_mask[(size_t)b * T + t] = 1.f;
    }
  }
  llama_forward(m, stack_, ws_, ids, B, T, nullptr);
  if (mw) {
    *aux = n == 0 ? 0.0 : moe_aux_loss(m.cfg, *mw); // a micro-batch without targets adds no loss at all
    mw->aux_grad = aux_grad;
  }
  if (n == 0) return 0.0;
  const int N = B * T, H = m.H();
  double sum;
  {
    PEFT_PROFILE_SCOPE(lmhead_ce);
    if (backward) m.be().zero(ws_.dln, (size_t)N * H);
    sum = m.be().cross_entropy_forward_backward(backward ? ws_.dln : nullptr, ws_.lnf, m.head(), head16(),
                                                targets.data(), N, H, m.cfg.vocab_size, grad_scale_per_token,
                                                ws_.ce_work, ws_.ce_work_floats);
  }
  if (backward) llama_backward(m, stack_, ws_, *grad_);
  return sum / (double)n;
}

size_t Trainer::moe_held_bytes() const { return ws_.moe ? moe_workspace_bytes(*ws_.moe) : 0; }

static void for_each_tensor(
    Adapter& a, Adapter& b, Adapter& c, Adapter& d,
    const std::function<void(std::vector<float>&, std::vector<float>&, std::vector<float>&, std::vector<float>&)>& fn) {
  for (size_t l = 0; l < a.mods.size(); l++)
    for (size_t p = 0; p < a.mods[l].size(); p++)
      if (a.mods[l][p]) {
        fn(a.mods[l][p]->A, b.mods[l][p]->A, c.mods[l][p]->A, d.mods[l][p]->A);
        fn(a.mods[l][p]->B, b.mods[l][p]->B, c.mods[l][p]->B, d.mods[l][p]->B);
      }
}

StepResult Trainer::step(const int32_t* ids, const int32_t* labels, int G, int B, int T, float lr,
                         const int32_t* lengths) {
  const auto t0 = std::chrono::steady_clock::now();
  StepResult res = accumulate(ids, labels, G, B, T, lengths);
  PEFT_PROFILE_SCOPE(optimizer);
  const float norm = (float)res.grad_norm;
  if (opt_.max_grad_norm > 0.f) {
    res.clip_coef = opt_.max_grad_norm / (norm + 1e-6f);
    res.clipped = res.clip_coef < 1.f;
    const float c = std::min(1.f, res.clip_coef);
    for (auto& l : grad_->mods)
      for (auto& p : l)
        if (p) {
          model_->be().scale_inplace(p->A.data(), p->A.size(), c);
          model_->be().scale_inplace(p->B.data(), p->B.size(), c);
        }
  }
  t_++;
  for_each_tensor(*stack_.train, *grad_, *m_, *v_,
                  [&](std::vector<float>& p, std::vector<float>& g, std::vector<float>& m, std::vector<float>& v) {
                    model_->be().adamw_update(p.data(), m.data(), v.data(), g.data(), p.size(), lr, opt_.beta1,
                                              opt_.beta2, opt_.eps, opt_.weight_decay, t_);
                  });
  prof::Counters& pc = prof::counters();
  pc.step_sec += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  pc.steps++;
  return res;
}

StepResult Trainer::accumulate(const int32_t* ids, const int32_t* labels, int G, int B, int T, const int32_t* lengths) {
  StepResult res;
  const size_t mb = (size_t)B * T;
  {
    PEFT_PROFILE_SCOPE(optimizer); // zero gradients
    for (auto& l : grad_->mods)
      for (auto& p : l)
        if (p) {
          model_->be().zero(p->A.data(), p->A.size());
          model_->be().zero(p->B.data(), p->B.size());
        }
  }
  std::vector<long> ntoks(G);
  std::vector<int32_t> tmp;
  long total = 0;
  for (int g = 0; g < G; g++) {
    ntoks[g] = shift_labels(tmp, labels + g * mb, B, T, model_->cfg.vocab_size);
    total += ntoks[g];
  }
  res.tokens = total;
  double weighted = 0;
  // The load-balancing loss joins each micro-batch's loss as coef * aux (transformers' MoE loss); the step's aux is
  // the mean over the micro-batches, so each one's gradient is scaled by coef / G.
  const bool aux_on = aux_coef_ > 0;
  std::vector<double> aux(G, 0.0);
  for (int g = 0; g < G; g++) {
    stack_.step = (uint64_t)t_ * (uint64_t)G + g;
    const float scale = ntoks[g] == 0         ? 0.f
                        : opt_.token_weighted ? (float)(1.0 / (double)total)
                                              : (float)(1.0 / ((double)ntoks[g] * G));
    long n = 0;
    const double l = micro_loss(ids + g * mb, labels + g * mb, B, T, scale, true, &n,
                                lengths ? lengths + (size_t)g * B : nullptr, aux_coef_ / G, aux_on ? &aux[g] : nullptr);
    res.micro_losses.push_back(l);
    weighted += l * (double)n;
  }
  if (opt_.token_weighted)
    res.loss = total ? weighted / (double)total : 0.0;
  else {
    double s = 0;
    for (double l : res.micro_losses) s += l;
    res.loss = s / G;
  }
  if (aux_on) {
    res.has_aux = true;
    for (int g = 0; g < G; g++) {
      res.aux_loss += aux[g] / G;
      res.micro_losses[g] += aux_coef_ * aux[g];
    }
    res.loss += aux_coef_ * res.aux_loss;
  }
  // global norm over all LoRA tensors (per-tensor norms, then the norm of the norms)
  PEFT_PROFILE_SCOPE(optimizer);
  double sq = 0;
  for (auto& l : grad_->mods)
    for (auto& p : l)
      if (p)
        for (auto* v : {&p->A, &p->B}) {
          const float tn = (float)std::sqrt(model_->be().sum_squares(v->data(), v->size()));
          sq += (double)tn * tn;
        }
  const float norm = (float)std::sqrt(sq);
  res.grad_norm = norm;
  if (!std::isfinite(norm))
    throw EngineError("E_ENGINE", "training diverged: the gradient norm is " + std::to_string(norm) + " at step " +
                                      std::to_string(t_) + " (lower the learning rate)");
  return res;
}

std::vector<double> Trainer::eval(const int32_t* ids, const int32_t* labels, int G, int B, int T) {
  std::vector<double> out;
  const size_t mb = (size_t)B * T;
  for (int g = 0; g < G; g++) {
    long n = 0;
    out.push_back(micro_loss(ids + g * mb, labels + g * mb, B, T, 0.f, false, &n));
  }
  return out;
}

} // namespace peft
