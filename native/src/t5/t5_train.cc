// The T5 trainer: per example encoder + decoder forward, cross-entropy over the labels, backward into the trainable
// adapter's gradients; per step the global gradient norm, optional clipping, AdamW (all through the Backend).
#include "t5/t5_train.h"
#include <cmath>
#include "error.h"
#include "t5/t5_adapter.h"
#include "t5/t5_forward.h"

namespace peft::t5 {

namespace {
template <class F>
void each_tensor(T5Adapter& p, T5Adapter& g, T5Adapter& m, T5Adapter& v, F&& fn) {
  for (int stk = 0; stk < 2; stk++)
    for (size_t l = 0; l < p.mods[stk].size(); l++)
      for (int s = 0; s < N_SLOT; s++)
        if (p.mods[stk][l][s]) {
          fn(p.mods[stk][l][s]->A, g.mods[stk][l][s]->A, m.mods[stk][l][s]->A, v.mods[stk][l][s]->A);
          fn(p.mods[stk][l][s]->B, g.mods[stk][l][s]->B, m.mods[stk][l][s]->B, v.mods[stk][l][s]->B);
        }
}
} // namespace

T5Trainer::T5Trainer(std::shared_ptr<T5Model> model, std::shared_ptr<T5Adapter> adapter, float weight,
                     std::vector<std::pair<std::shared_ptr<T5Adapter>, float>> frozen, T5TrainOptions opt)
    : model_(std::move(model)), opt_(opt) {
  st_.frozen = std::move(frozen);
  st_.train = std::move(adapter);
  st_.train_scale = st_.train->scaling() * weight;
  grad_ = t5_zeros_like(*st_.train);
  m_ = t5_zeros_like(*st_.train);
  v_ = t5_zeros_like(*st_.train);
}

double T5Trainer::example_loss(const T5Example& x, float grad_scale, bool backward, long* ntok,
                               long dropout_stream) const {
  const T5Model& m = *model_;
  const int Td = (int)x.dec.size(), V = m.cfg.vocab_size, D = m.D();
  if (x.labels.size() != x.dec.size())
    throw EngineError("E_ENGINE", "t5 training: labels must be as long as the decoder input ids");
  std::vector<int32_t> targets(Td);
  long n = 0;
  for (int t = 0; t < Td; t++) {
    const int32_t y = x.labels[t];
    if (y != -100 && (y < 0 || y >= V))
      throw EngineError("E_ENGINE", "t5 training: label " + std::to_string(y) + " is outside the vocabulary");
    targets[t] = y == -100 ? -1 : y;
    n += y != -100;
  }
  *ntok = n;
  if (n == 0) return 0.0;
  T5Stack st = st_;
  if (dropout_stream >= 0 && opt_.dropout > 0.f) {
    st.dropout = opt_.dropout;
    st.seed = opt_.seed;
    st.stream = (uint64_t)dropout_stream;
  }
  T5Pass p;
  t5_encode(m, st, x.enc.data(), (int)x.enc.size(), p);
  t5_decode(m, st, x.dec.data(), Td, p);
  std::vector<float> dh;
  if (backward) dh.assign((size_t)Td * D, 0.f);
  const double loss = m.be().cross_entropy_forward_backward(backward ? dh.data() : nullptr, p.dec_h.data(), m.head(),
                                                            nullptr, targets.data(), Td, D, V, grad_scale, nullptr, 0);
  if (backward) t5_backward(m, st, p, dh.data(), *grad_);
  return loss;
}

T5StepResult T5Trainer::step(const std::vector<std::vector<T5Example>>& micro, float lr) {
  T5StepResult res;
  const Backend& be = model_->be();
  each_tensor(*grad_, *grad_, *m_, *v_,
              [&](std::vector<float>& g, std::vector<float>&, std::vector<float>&, std::vector<float>&) {
                be.zero(g.data(), g.size());
              });
  const int G = (int)micro.size();
  std::vector<long> ntok(G, 0);
  long total = 0;
  for (int g = 0; g < G; g++)
    for (auto& x : micro[g])
      for (int32_t y : x.labels) ntok[g] += y != -100;
  for (long n : ntok) total += n;
  res.tokens = total;
  double weighted = 0, mean_sum = 0;
  long example = 0; // index of the example in the step (its dropout masks)
  for (int g = 0; g < G; g++) {
    const float scale = ntok[g] == 0          ? 0.f
                        : opt_.token_weighted ? (float)(1.0 / (double)total)
                                              : (float)(1.0 / ((double)ntok[g] * G));
    double sum = 0;
    for (auto& x : micro[g]) {
      if (cancel.load()) throw EngineError("E_CANCELLED", "training cancelled");
      long n = 0;
      sum += example_loss(x, scale, true, &n, t_ * 65536 + example++);
    }
    const double mean = ntok[g] ? sum / (double)ntok[g] : 0.0;
    res.micro_losses.push_back(mean);
    weighted += sum;
    mean_sum += mean;
  }
  res.loss = opt_.token_weighted ? (total ? weighted / (double)total : 0.0) : mean_sum / G;
  double sq = 0;
  each_tensor(*grad_, *grad_, *m_, *v_,
              [&](std::vector<float>& g, std::vector<float>&, std::vector<float>&, std::vector<float>&) {
                sq += be.sum_squares(g.data(), g.size());
              });
  res.grad_norm = std::sqrt(sq);
  if (opt_.max_grad_norm > 0) {
    res.clip_coef = opt_.max_grad_norm / ((float)res.grad_norm + 1e-6f);
    const float c = std::min(1.f, res.clip_coef);
    if (c < 1.f)
      each_tensor(*grad_, *grad_, *m_, *v_,
                  [&](std::vector<float>& g, std::vector<float>&, std::vector<float>&, std::vector<float>&) {
                    be.scale_inplace(g.data(), g.size(), c);
                  });
  }
  t_++;
  each_tensor(*st_.train, *grad_, *m_, *v_,
              [&](std::vector<float>& p, std::vector<float>& g, std::vector<float>& m, std::vector<float>& v) {
                be.adamw_update(p.data(), m.data(), v.data(), g.data(), p.size(), lr, opt_.beta1, opt_.beta2, opt_.eps,
                                opt_.weight_decay, t_);
              });
  return res;
}

std::pair<double, long> T5Trainer::eval(const std::vector<T5Example>& xs) const {
  double sum = 0;
  long total = 0;
  for (auto& x : xs) {
    long n = 0;
    sum += example_loss(x, 0.f, false, &n, -1);
    total += n;
  }
  return {sum, total};
}

} // namespace peft::t5
