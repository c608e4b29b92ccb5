// Sequence-to-sequence LoRA training of a T5 model: each example is (encoder ids, decoder input ids, labels) with
// logits[t] predicting labels[t] (-100 ignored), run one sequence pair at a time (no padding), gradients accumulated
// over the micro-batches of a step, optional global-norm clipping, AdamW as torch computes it.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>
#include "t5/t5_model.h"

namespace peft::t5 {

struct T5Example {
  std::vector<int32_t> enc, dec, labels; // labels.size() == dec.size()
};

struct T5TrainOptions {
  float weight_decay = 0.f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float max_grad_norm = 0.f;   // <= 0: no clipping
  bool token_weighted = false; // false: mean of micro-batch means; true: mean over all target tokens of the step
  float dropout = 0.f;         // LoRA dropout on the trainable adapter's input (training steps only, not eval)
  uint64_t seed = 0;           // dropout masks: example e of step t draws stream t * 65536 + e
};

struct T5StepResult {
  double loss = 0, grad_norm = 0;
  float clip_coef = 1.f;
  long tokens = 0;
  std::vector<double> micro_losses;
};

class T5Trainer {
 public:
  T5Trainer(std::shared_ptr<T5Model> model, std::shared_ptr<T5Adapter> adapter, float weight,
            std::vector<std::pair<std::shared_ptr<T5Adapter>, float>> frozen, T5TrainOptions opt);
  // One optimizer step over micro-batches of examples.
  T5StepResult step(const std::vector<std::vector<T5Example>>& micro, float lr);
  // Summed loss and target count of examples, no update.
  std::pair<double, long> eval(const std::vector<T5Example>& xs) const;
  std::shared_ptr<T5Adapter> adapter() const { return st_.train; }
  long steps_done() const { return t_; }
  // The AdamW state (a checkpoint saves and restores it with the step count).
  T5Adapter& exp_avg() { return *m_; }
  T5Adapter& exp_avg_sq() { return *v_; }
  void set_steps_done(long t) { t_ = t; }
  std::atomic<bool> cancel{false};

 private:
  // dropout_stream < 0: no dropout (eval); else the example's mask stream.
  double example_loss(const T5Example& x, float grad_scale, bool backward, long* ntok, long dropout_stream) const;
  std::shared_ptr<T5Model> model_;
  T5Stack st_;
  T5TrainOptions opt_;
  std::shared_ptr<T5Adapter> grad_, m_, v_;
  long t_ = 0;
};

} // namespace peft::t5
