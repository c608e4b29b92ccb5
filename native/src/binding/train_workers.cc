// JS bindings of training: createTrainer, and the trainer's run (progress through a ThreadSafeFunction, cancellation
// checked between steps), eval and gradients workers; cancel, adapter, step count and memory info.
#include <napi.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>
#include "binding/args.h"
#include "binding/handles.h"
#include "binding/register.h"
#include "binding/worker.h"
#include "error.h"
#include "train.h"

namespace peft::binding {
namespace {

Napi::Value CreateTrainer(const Napi::CallbackInfo& info) {
  ModelHandle* mh = get_handle<ModelHandle>(info[0], "model");
  AdapterHandle* ah = get_handle<AdapterHandle>(info[1], "adapter");
  if (ah->m != mh->m) usage("the trainable adapter was made for another model handle");
  Napi::Object o = opt_obj(info, 3);
  TrainOptions t;
  t.weight_decay = (float)num_or(o, "weightDecay", 0, 0, 1e3);
  t.beta1 = (float)num_or(o, "beta1", 0.9, 0, 0.999999);
  t.beta2 = (float)num_or(o, "beta2", 0.999, 0, 0.99999999);
  t.eps = (float)num_or(o, "eps", 1e-8, 0, 1);
  t.max_grad_norm = (float)num_or(o, "maxGradNorm", 0, 0, 1e9);
  t.token_weighted = bool_or(o, "tokenWeighted", false);
  t.recompute = bool_or(o, "recompute", false);
  t.act_budget_bytes = num_or(o, "activationBudgetBytes", 0, 0, 1e15);
  t.dropout = (float)num_or(o, "dropout", 0, 0, 0.99);
  t.seed = (uint64_t)num_or(o, "seed", 0, 0, 9007199254740991.0);
  // the MoE router load-balancing loss weight; absent: the model config's (transformers' output_router_logits)
  t.router_aux_coef = num_or(o, "routerAuxLossCoef", -1, 0, 1e6);
  const float weight = (float)num_or(o, "weight", 1, -1e6, 1e6);
  auto frozen = adapter_list(info[2], mh->m.get());
  for (auto& f : frozen)
    if (f.first == ah->a) usage("the trainable adapter is also listed among the frozen adapters");
  auto trainer = std::make_shared<Trainer>(mh->m, ah->a, weight, std::move(frozen), t);
  auto* h = new TrainerHandle();
  h->t = std::move(trainer);
  h->m = mh->m;
  h->a = ah->a;
  return wrap(info.Env(), h);
}

struct BatchSpec {
  std::vector<int32_t> ids, labels;
  std::vector<int32_t> lengths; // [steps G B] real tokens per right-padded row, or empty (all real)
  int steps = 0, G = 0, B = 0, T = 0;
  const int32_t* len(size_t row) const { return lengths.empty() ? nullptr : lengths.data() + row; }
};

BatchSpec batch_spec(const Napi::Object& o, const LlamaModel& m, bool need_steps) {
  BatchSpec b;
  b.ids = int32s(o.Get("ids"), "ids");
  b.labels = int32s(o.Get("labels"), "labels");
  b.steps = need_steps ? int_or(o, "steps", 0, 1, 1 << 30) : 1;
  b.G = int_or(o, "micro", 1, 1, 1 << 20);
  b.B = int_or(o, "batch", 0, 1, 1 << 20);
  b.T = int_or(o, "seqLen", 0, 2, 1 << 20);
  const size_t want = (size_t)b.steps * b.G * b.B * b.T;
  if (b.ids.size() != want || b.labels.size() != want)
    usage("ids and labels must each hold steps*micro*batch*seqLen = " + std::to_string(want) + " values, got " +
          std::to_string(b.ids.size()) + " and " + std::to_string(b.labels.size()));
  check_ids(b.ids, m.cfg.vocab_size, "ids");
  for (size_t i = 0; i < b.labels.size(); i++)
    if (b.labels[i] != -100 && (b.labels[i] < 0 || b.labels[i] >= m.cfg.vocab_size))
      usage("labels[" + std::to_string(i) + "] = " + std::to_string(b.labels[i]) + " is neither -100 nor a token id");
  if (!o.Get("lengths").IsUndefined()) {
    b.lengths = int32s(o.Get("lengths"), "lengths");
    const size_t rows = (size_t)b.steps * b.G * b.B;
    if (b.lengths.size() != rows)
      usage("lengths must hold one value per row (steps*micro*batch = " + std::to_string(rows) + "), got " +
            std::to_string(b.lengths.size()));
    for (size_t i = 0; i < rows; i++)
      if (b.lengths[i] < 0 || b.lengths[i] > b.T)
        usage("lengths[" + std::to_string(i) + "] = " + std::to_string(b.lengths[i]) + " is outside [0, seqLen]");
  }
  return b;
}

// A worker on one trainer: the trainer is marked busy until the worker settles, and its JS handle is kept alive.
class TrainerWorker : public Worker {
 public:
  TrainerWorker(Napi::Env env, TrainerHandle* h, Napi::Object keep)
      : Worker(env), h_(h), keep_(Napi::Persistent(keep)) {}
  void OnOK() override {
    h_->busy = false;
    Worker::OnOK();
  }
  void OnError(const Napi::Error& e) override {
    h_->busy = false;
    Worker::OnError(e);
  }
  TrainerHandle* h_;
  Napi::ObjectReference keep_; // keeps the trainer handle alive while the worker runs
  BatchSpec b_;
};

// A new W on the trainer (argument 0) for batch b, the trainer marked busy (a usage error when it already is).
template <class W>
W* on_trainer(const Napi::CallbackInfo& info, TrainerHandle* h, BatchSpec b) {
  if (h->busy.exchange(true)) usage("this trainer is already running");
  auto* w = new W(info.Env(), h, info[0].ToObject());
  w->b_ = std::move(b);
  return w;
}

struct Progress {
  long step;
  double loss, lr, grad_norm, tokens_per_sec;
  long tokens;
};

class TrainWorker : public TrainerWorker {
 public:
  using TrainerWorker::TrainerWorker;
  ~TrainWorker() override {
    if (has_tsfn_) tsfn_.Release();
  }
  void run() override {
    Trainer& t = *h_->t;
    const size_t per = (size_t)b_.G * b_.B * b_.T;
    for (int s = 0; s < b_.steps; s++) {
      if (t.cancel.load())
        throw EngineError("E_CANCELLED", "training cancelled after step " + std::to_string(t.steps_done()));
      auto t0 = std::chrono::steady_clock::now();
      StepResult r = t.step(b_.ids.data() + s * per, b_.labels.data() + s * per, b_.G, b_.B, b_.T, (float)lrs_[s],
                            b_.len((size_t)s * b_.G * b_.B));
      double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      results_.push_back(r);
      secs_.push_back(dt);
      if (has_tsfn_) {
        auto* p =
            new Progress{t.steps_done(), r.loss, lrs_[s], r.grad_norm, (double)per / std::max(dt, 1e-9), r.tokens};
        tsfn_.NonBlockingCall(p, [](Napi::Env env, Napi::Function cb, Progress* p) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("step", (double)p->step);
          o.Set("loss", p->loss);
          o.Set("lr", p->lr);
          o.Set("gradNorm", p->grad_norm);
          o.Set("tokensPerSec", p->tokens_per_sec);
          o.Set("tokens", (double)p->tokens);
          delete p;
          try {
            cb.Call({o});
          } catch (...) {}
        });
      }
    }
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, results_.size());
    const long first = h_->t->steps_done() - (long)results_.size();
    for (size_t i = 0; i < results_.size(); i++) {
      const StepResult& r = results_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("step", (double)(first + (long)i));
      o.Set("loss", r.loss);
      Napi::Array ml = Napi::Array::New(env, r.micro_losses.size());
      for (size_t j = 0; j < r.micro_losses.size(); j++) ml.Set((uint32_t)j, r.micro_losses[j]);
      o.Set("microLosses", ml);
      if (r.has_aux) o.Set("auxLoss", r.aux_loss); // MoE router load-balancing loss (loss includes coef * it)
      o.Set("gradNorm", r.grad_norm);
      o.Set("clipCoef", r.clip_coef);
      o.Set("clipped", r.clipped);
      o.Set("lr", lrs_[i]);
      o.Set("tokens", (double)r.tokens);
      o.Set("seconds", secs_[i]);
      out.Set((uint32_t)i, o);
    }
    return out;
  }
  void OnError(const Napi::Error& e) override {
    h_->t->cancel = false;
    TrainerWorker::OnError(e);
  }
  std::vector<double> lrs_;
  std::vector<StepResult> results_;
  std::vector<double> secs_;
  Napi::ThreadSafeFunction tsfn_;
  bool has_tsfn_ = false;
};

Napi::Value TrainerRun(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  Napi::Object o = opt_obj(info, 1);
  BatchSpec b = batch_spec(o, *h->m, true);
  std::vector<double> lrs;
  Napi::Value lv = o.Get("lrs");
  if (lv.IsTypedArray() && lv.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
    Napi::Float64Array a = lv.As<Napi::Float64Array>();
    lrs.assign(a.Data(), a.Data() + a.ElementLength());
  } else {
    usage("lrs must be a Float64Array with one learning rate per step");
  }
  if ((int)lrs.size() != b.steps) usage("lrs must hold one learning rate per step (" + std::to_string(b.steps) + ")");
  for (double lr : lrs)
    if (!std::isfinite(lr) || lr < 0 || lr > 10) usage("learning rate " + std::to_string(lr) + " is outside [0, 10]");
  auto* w = on_trainer<TrainWorker>(info, h, std::move(b));
  w->lrs_ = std::move(lrs);
  if (info.Length() > 2 && info[2].IsFunction()) {
    w->tsfn_ = Napi::ThreadSafeFunction::New(info.Env(), info[2].As<Napi::Function>(), "peft-train-progress", 0, 1);
    w->has_tsfn_ = true;
  }
  return queue(w);
}

class EvalWorker : public TrainerWorker {
 public:
  using TrainerWorker::TrainerWorker;
  void run() override { losses_ = h_->t->eval(b_.ids.data(), b_.labels.data(), b_.G, b_.B, b_.T); }
  Napi::Value result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, losses_.size());
    for (size_t i = 0; i < losses_.size(); i++) out.Set((uint32_t)i, losses_[i]);
    return out;
  }
  std::vector<double> losses_;
};

Napi::Value TrainerEval(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  return queue(on_trainer<EvalWorker>(info, h, batch_spec(opt_obj(info, 1), *h->m, false)));
}

// Gradients of one step's loss (no clipping, no update), as {loss, microLosses, gradNorm, grads: {PEFT key: Float32Array}}.
class GradWorker : public TrainerWorker {
 public:
  using TrainerWorker::TrainerWorker;
  void run() override { r_ = h_->t->accumulate(b_.ids.data(), b_.labels.data(), b_.G, b_.B, b_.T, b_.len(0)); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", r_.loss);
    if (r_.has_aux) o.Set("auxLoss", r_.aux_loss);
    o.Set("gradNorm", r_.grad_norm);
    o.Set("grads", adapter_tensors(env, h_->t->gradients()));
    return o;
  }
  StepResult r_;
};

Napi::Value TrainerGradients(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  return queue(on_trainer<GradWorker>(info, h, batch_spec(opt_obj(info, 1), *h->m, false)));
}

Napi::Value TrainerCancel(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  if (h->busy) h->t->cancel = true;
  return info.Env().Undefined();
}

Napi::Value TrainerAdapter(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  return wrap_adapter(info.Env(), h->a, h->m);
}

Napi::Value TrainerStep(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)get_handle<TrainerHandle>(info[0], "trainer")->t->steps_done());
}

Napi::Value TrainerInfo(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  Napi::Object o = Napi::Object::New(info.Env());
  const size_t p = h->a->params();
  o.Set("loraParams", (double)p);
  o.Set("loraBytes", (double)(p * 4 * sizeof(float))); // params, grads, exp_avg, exp_avg_sq
  o.Set("activationBytes", (double)h->t->planned_bytes());
  o.Set("frozenBytes", (double)h->m->frozen_bytes());
  o.Set("recomputedLayers", (double)h->t->recomputed_layers());
  o.Set("routerAuxLossCoef", h->t->router_aux_coef());
  o.Set("moePlannedBytes", (double)h->t->moe_planned_bytes()); // MoE side buffers, part of activationBytes
  o.Set("moeHeldBytes", (double)h->t->moe_held_bytes());       // what they hold now: the plan held if equal
  o.Set("steps", (double)h->t->steps_done());
  return o;
}

} // namespace

void register_train(Napi::Env env, Napi::Object exports) {
  export_fn<CreateTrainer>(env, exports, "createTrainer");
  export_fn<TrainerRun>(env, exports, "trainerRun");
  export_fn<TrainerEval>(env, exports, "trainerEval");
  export_fn<TrainerGradients>(env, exports, "trainerGradients");
  export_fn<TrainerCancel>(env, exports, "trainerCancel");
  export_fn<TrainerAdapter>(env, exports, "trainerAdapter");
  export_fn<TrainerStep>(env, exports, "trainerStep");
  export_fn<TrainerInfo>(env, exports, "trainerInfo");
}

} // namespace peft::binding
