// JS bindings of inference: score (per-token log-probabilities, optional logits) and generate, each an AsyncWorker.
#include <napi.h>
#include <memory>
#include <vector>
#include "binding/args.h"
#include "binding/handles.h"
#include "binding/register.h"
#include "binding/worker.h"
#include "generate.h"
#include "llama.h"

namespace peft::binding {
namespace {

class ScoreWorker : public Worker {
 public:
  using Worker::Worker;
  void run() override {
    score_sequence(*m_, st_, ids_, lp_, want_logits_ ? &logits_ : nullptr, want_routing_ ? &routing_ : nullptr,
                   want_routing_ ? &router_logits_ : nullptr);
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    Napi::Float32Array lp = Napi::Float32Array::New(env, lp_.size());
    std::copy(lp_.begin(), lp_.end(), lp.Data());
    o.Set("logprobs", lp);
    if (want_logits_) {
      Napi::Float32Array lg = Napi::Float32Array::New(env, logits_.size());
      std::copy(logits_.begin(), logits_.end(), lg.Data());
      o.Set("logits", lg);
    }
    if (want_routing_) { // MoE: [layers, tokens, experts_per_tok] chosen experts, best first
      Napi::Int32Array r = Napi::Int32Array::New(env, routing_.size());
      std::copy(routing_.begin(), routing_.end(), r.Data());
      o.Set("routing", r);
      Napi::Float32Array z = Napi::Float32Array::New(env, router_logits_.size()); // [layers, tokens, experts]
      std::copy(router_logits_.begin(), router_logits_.end(), z.Data());
      o.Set("routerLogits", z);
    }
    return o;
  }
  std::shared_ptr<LlamaModel> m_;
  AdapterStack st_;
  std::vector<int32_t> ids_;
  bool want_logits_ = false, want_routing_ = false;
  std::vector<float> lp_, logits_, router_logits_;
  std::vector<int32_t> routing_;
};

Napi::Value Score(const Napi::CallbackInfo& info) {
  ModelHandle* mh = get_handle<ModelHandle>(info[0], "model");
  return setup_and_queue(new ScoreWorker(info.Env()), [&](ScoreWorker* w) {
    w->m_ = mh->m;
    w->ids_ = int32s(info[1], "ids");
    if (w->ids_.empty()) usage("ids must hold at least one token id");
    check_ids(w->ids_, mh->m->cfg.vocab_size, "ids");
    w->st_.frozen = adapter_list(info[2], mh->m.get());
    w->want_logits_ = bool_or(opt_obj(info, 3), "logits", false);
    w->want_routing_ = bool_or(opt_obj(info, 3), "routing", false);
    if (w->want_routing_ && mh->m->cfg.num_experts == 0) usage("option 'routing' needs a mixture-of-experts model");
  });
}

// ---------- generate ----------
class GenerateWorker : public Worker {
 public:
  using Worker::Worker;
  void run() override {
    if (want_logprobs_) opt_.logprobs = &logprobs_;
    out_ = generate(*m_, st_, prompt_, opt_, nullptr);
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    Napi::Int32Array t = Napi::Int32Array::New(env, out_.size());
    std::copy(out_.begin(), out_.end(), t.Data());
    o.Set("tokens", t);
    if (want_logprobs_) {
      Napi::Float32Array lp = Napi::Float32Array::New(env, logprobs_.size());
      std::copy(logprobs_.begin(), logprobs_.end(), lp.Data());
      o.Set("logprobs", lp);
    }
    return o;
  }
  bool want_logprobs_ = false;
  std::vector<float> logprobs_;
  std::shared_ptr<LlamaModel> m_;
  AdapterStack st_;
  std::vector<int32_t> prompt_, out_;
  GenOptions opt_;
};

Napi::Value Generate(const Napi::CallbackInfo& info) {
  ModelHandle* mh = get_handle<ModelHandle>(info[0], "model");
  return setup_and_queue(new GenerateWorker(info.Env()), [&](GenerateWorker* w) {
    w->m_ = mh->m;
    w->prompt_ = int32s(info[1], "prompt");
    if (w->prompt_.empty()) usage("the prompt must hold at least one token id");
    check_ids(w->prompt_, mh->m->cfg.vocab_size, "prompt");
    w->st_.frozen = adapter_list(info[2], mh->m.get());
    Napi::Object o = opt_obj(info, 3);
    w->opt_.max_tokens = int_or(o, "maxTokens", 64, 0, 1 << 20);
    w->opt_.temperature = (float)num_or(o, "temperature", 0, 0, 1e6);
    w->opt_.top_k = int_or(o, "topK", 0, 0, 1 << 30);
    w->opt_.top_p = (float)num_or(o, "topP", 1, 1e-9, 1);
    w->opt_.seed = (uint64_t)num_or(o, "seed", 0, 0, 9007199254740991.0);
    w->want_logprobs_ = o.Get("logprobs").ToBoolean();
    Napi::Value eos = o.Get("eos");
    if (eos.IsUndefined() || eos.IsNull()) {
      w->opt_.eos = mh->m->cfg.eos_token_ids;
    } else {
      if (!eos.IsArray()) usage("option 'eos' must be an array of token ids");
      Napi::Array a = eos.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value e = a.Get(i);
        if (!e.IsNumber()) usage("option 'eos' must be an array of token ids");
        w->opt_.eos.push_back(e.As<Napi::Number>().Int32Value());
      }
    }
  });
}

} // namespace

void register_inference(Napi::Env env, Napi::Object exports) {
  export_fn<Score>(env, exports, "score");
  export_fn<Generate>(env, exports, "generate");
}

} // namespace peft::binding
