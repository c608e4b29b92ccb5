// JS bindings of the T5 encoder-decoder (native/src/t5/): its own handle kinds (a T5 model, its adapters, its
// trainer, a step-by-step generation) beside the Llama ones, and t5LoadModel / t5ModelInfo / adapters / t5Score /
// t5Generate / t5Session* / t5Trainer*.
#include <napi.h>
#include <memory>
#include <string>
#include <vector>
#include "binding/args.h"
#include "binding/handles.h"
#include "binding/optimizer_state.h"
#include "binding/register.h"
#include "binding/worker.h"
#include "error.h"
#include "kernels/kernels.h"
#include "model/safetensors.h"
#include "t5/t5_adapter.h"
#include "t5/t5_generate.h"
#include "t5/t5_train.h"

namespace peft::binding {
namespace {

using t5::T5Adapter;
using t5::T5Model;

struct T5ModelHandle : Handle {
  std::shared_ptr<T5Model> m;
};
struct T5AdapterHandle : Handle {
  std::shared_ptr<T5Adapter> a;
  std::shared_ptr<T5Model> m;
};
struct T5TrainerHandle : Handle {
  std::shared_ptr<t5::T5Trainer> t;
  std::shared_ptr<T5Model> m;
  std::atomic<bool> busy{false};
};

Napi::Value wrap_t5_adapter(Napi::Env env, std::shared_ptr<T5Adapter> a, std::shared_ptr<T5Model> m) {
  auto* h = new T5AdapterHandle();
  h->a = std::move(a);
  h->m = std::move(m);
  return wrap(env, h);
}

std::vector<std::pair<std::shared_ptr<T5Adapter>, float>> t5_adapter_list(const Napi::Value& v, const T5Model* m) {
  std::vector<std::pair<std::shared_ptr<T5Adapter>, float>> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) usage("adapters must be an array of {adapter, weight}");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsObject()) usage("adapters[" + std::to_string(i) + "] must be {adapter, weight}");
    Napi::Object o = e.As<Napi::Object>();
    T5AdapterHandle* h = get_handle<T5AdapterHandle>(o.Get("adapter"), "T5 adapter");
    if (h->m.get() != m) usage("adapters[" + std::to_string(i) + "] was loaded for another model handle");
    out.emplace_back(h->a, (float)(h->a->scaling() * num_or(o, "weight", 1.0, -1e6, 1e6)));
  }
  return out;
}

class T5LoadWorker : public Worker {
 public:
  T5LoadWorker(Napi::Env env, std::string dir, kern::Storage s, kern::Compute c)
      : Worker(env), dir_(std::move(dir)), s_(s), c_(c) {}
  void run() override { m_ = t5::load_t5(dir_, s_, c_); }
  Napi::Value result(Napi::Env env) override {
    auto* h = new T5ModelHandle();
    h->m = m_;
    return wrap(env, h);
  }
  std::string dir_;
  kern::Storage s_;
  kern::Compute c_;
  std::shared_ptr<T5Model> m_;
};

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  std::string dir = get_str(info, 0, "dir");
  Napi::Object o = opt_obj(info, 1);
  std::string quant = str_or(o, "quant", "none"), compute = str_or(o, "compute", "fp32");
  if (quant != "none" && quant != "nf4") usage("quant must be 'none' or 'nf4', got '" + quant + "'");
  if (compute != "fp32" && compute != "bf16") usage("compute must be 'fp32' or 'bf16', got '" + compute + "'");
  int threads = int_or(o, "threads", -1, -1, 1024);
  if (threads >= 0) kern::set_threads(threads);
  return queue(new T5LoadWorker(info.Env(), dir, quant == "nf4" ? kern::Storage::NF4 : kern::Storage::F32,
                                compute == "bf16" ? kern::Compute::BF16 : kern::Compute::F32));
}

Napi::Value ModelInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const T5Model& m = *get_handle<T5ModelHandle>(info[0], "T5 model")->m;
  const t5::T5Config& c = m.cfg;
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", "t5");
  o.Set("vocabSize", c.vocab_size);
  o.Set("dModel", c.d_model);
  o.Set("dKv", c.d_kv);
  o.Set("dFf", c.d_ff);
  o.Set("numHeads", c.num_heads);
  o.Set("numLayers", c.num_layers);
  o.Set("numDecoderLayers", c.num_decoder_layers);
  o.Set("relativeAttentionNumBuckets", c.num_buckets);
  o.Set("relativeAttentionMaxDistance", c.max_distance);
  o.Set("tieWordEmbeddings", m.lm_head.empty());
  o.Set("padTokenId", c.pad_token_id);
  o.Set("decoderStartTokenId", c.decoder_start_token_id);
  Napi::Array eos = Napi::Array::New(env, c.eos_token_ids.size());
  for (size_t i = 0; i < c.eos_token_ids.size(); i++) eos.Set((uint32_t)i, c.eos_token_ids[i]);
  o.Set("eosTokenIds", eos);
  o.Set("quant", m.storage == kern::Storage::NF4 ? "nf4" : "none");
  o.Set("compute", m.compute == kern::Compute::BF16 ? "bf16" : "fp32");
  o.Set("frozenBytes", (double)m.frozen_bytes());
  o.Set("params", (double)m.params());
  return o;
}

Napi::Value LoadAdapter(const Napi::CallbackInfo& info) {
  T5ModelHandle* mh = get_handle<T5ModelHandle>(info[0], "T5 model");
  std::string path = get_str(info, 1, "path");
  Napi::Object o = opt_obj(info, 2);
  const int r = int_or(o, "r", 0, 1, 1 << 16);
  auto a = t5::t5_load_adapter(*mh->m, path, r, num_or(o, "alpha", r, -1e9, 1e9), bool_or(o, "rslora", false),
                               strings(o.Get("targets"), "targets"), str_or(o, "name", "adapter"));
  return wrap_t5_adapter(info.Env(), std::move(a), mh->m);
}

Napi::Value InitAdapter(const Napi::CallbackInfo& info) {
  T5ModelHandle* mh = get_handle<T5ModelHandle>(info[0], "T5 model");
  Napi::Object o = opt_obj(info, 1);
  const int r = int_or(o, "r", 8, 1, 1 << 16);
  auto a =
      t5::t5_init_adapter(*mh->m, r, num_or(o, "alpha", 2.0 * r, -1e9, 1e9), bool_or(o, "rslora", false),
                          strings(o.Get("targets"), "targets"), (uint64_t)num_or(o, "seed", 0, 0, 9007199254740991.0));
  a->name = str_or(o, "name", "adapter");
  return wrap_t5_adapter(info.Env(), std::move(a), mh->m);
}

Napi::Value SaveAdapter(const Napi::CallbackInfo& info) {
  t5::t5_save_adapter(*get_handle<T5AdapterHandle>(info[0], "T5 adapter")->a, get_str(info, 1, "path"));
  return info.Env().Undefined();
}

Napi::Value AdapterTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  t5::t5_for_each_tensor(*get_handle<T5AdapterHandle>(info[0], "T5 adapter")->a,
                         [&](const std::string& key, const std::vector<float>& v) {
                           Napi::Float32Array t = Napi::Float32Array::New(env, v.size());
                           std::copy(v.begin(), v.end(), t.Data());
                           o.Set(key, t);
                         });
  return o;
}

// t5AdapterSetTensor(adapter, PEFT key, Float32Array): overwrites one tensor (tests, merges).
Napi::Value AdapterSetTensor(const Napi::CallbackInfo& info) {
  T5AdapterHandle* h = get_handle<T5AdapterHandle>(info[0], "T5 adapter");
  const std::string key = get_str(info, 1, "key");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    usage("t5AdapterSetTensor: the value must be a Float32Array");
  Napi::Float32Array v = info[2].As<Napi::Float32Array>();
  bool found = false;
  t5::t5_for_each_tensor(*h->a, [&](const std::string& k, std::vector<float>& dst) {
    if (found || k != key) return;
    if (v.ElementLength() != dst.size()) usage("t5AdapterSetTensor: '" + key + "' has another size");
    std::copy(v.Data(), v.Data() + dst.size(), dst.begin());
    found = true;
  });
  if (!found) throw EngineError("E_ADAPTER", "t5AdapterSetTensor: the adapter has no tensor '" + key + "'");
  return info.Env().Undefined();
}

Napi::Float32Array floats(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

class ScoreWorker : public Worker {
 public:
  using Worker::Worker;
  void run() override {
    if (!labels_.empty())
      t5::t5_score_labels(*m_, st_, enc_, dec_, labels_, lp_);
    else
      t5::t5_score(*m_, st_, enc_, dec_, lp_, want_logits_ ? &logits_ : nullptr);
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("logprobs", floats(env, lp_));
    if (want_logits_) o.Set("logits", floats(env, logits_));
    return o;
  }
  std::shared_ptr<T5Model> m_;
  t5::T5Stack st_;
  std::vector<int32_t> enc_, dec_, labels_;
  bool want_logits_ = false;
  std::vector<float> lp_, logits_;
};

// t5Score(model, encIds, decIds, adapters, {logits, labels}): log p(dec[t+1] | enc, dec[..t]) or, with labels,
// log p(labels[t] | enc, dec[..t]).
Napi::Value Score(const Napi::CallbackInfo& info) {
  T5ModelHandle* mh = get_handle<T5ModelHandle>(info[0], "T5 model");
  return setup_and_queue(new ScoreWorker(info.Env()), [&](ScoreWorker* w) {
    w->m_ = mh->m;
    w->enc_ = int32s(info[1], "encoder ids");
    w->dec_ = int32s(info[2], "decoder ids");
    if (w->enc_.empty() || w->dec_.empty()) usage("t5Score: encoder and decoder ids must each hold a token id");
    check_ids(w->enc_, mh->m->cfg.vocab_size, "encoder ids");
    check_ids(w->dec_, mh->m->cfg.vocab_size, "decoder ids");
    w->st_.frozen = t5_adapter_list(info[3], mh->m.get());
    Napi::Object o = opt_obj(info, 4);
    w->want_logits_ = bool_or(o, "logits", false);
    if (!o.Get("labels").IsUndefined()) w->labels_ = int32s(o.Get("labels"), "labels");
  });
}

// {maxTokens, temperature, topK, topP, seed, eos} (eos absent: the model's eos ids).
GenOptions gen_options(const Napi::Object& o, const T5Model& m) {
  GenOptions g;
  g.max_tokens = int_or(o, "maxTokens", 64, 0, 1 << 20);
  g.temperature = (float)num_or(o, "temperature", 0, 0, 1e6);
  g.top_k = int_or(o, "topK", 0, 0, 1 << 30);
  g.top_p = (float)num_or(o, "topP", 1, 1e-9, 1);
  g.seed = (uint64_t)num_or(o, "seed", 0, 0, 9007199254740991.0);
  Napi::Value eos = o.Get("eos");
  if (eos.IsUndefined() || eos.IsNull())
    g.eos = m.cfg.eos_token_ids;
  else
    for (int32_t e : int32s(eos, "eos")) g.eos.push_back(e);
  return g;
}

class GenerateWorker : public Worker {
 public:
  using Worker::Worker;
  void run() override { out_ = t5::t5_generate(*m_, st_, enc_, opt_, nullptr); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    Napi::Int32Array t = Napi::Int32Array::New(env, out_.size());
    std::copy(out_.begin(), out_.end(), t.Data());
    o.Set("tokens", t);
    return o;
  }
  std::shared_ptr<T5Model> m_;
  t5::T5Stack st_;
  std::vector<int32_t> enc_, out_;
  GenOptions opt_;
};

Napi::Value Generate(const Napi::CallbackInfo& info) {
  T5ModelHandle* mh = get_handle<T5ModelHandle>(info[0], "T5 model");
  return setup_and_queue(new GenerateWorker(info.Env()), [&](GenerateWorker* w) {
    w->m_ = mh->m;
    w->enc_ = int32s(info[1], "encoder ids");
    if (w->enc_.empty()) usage("t5Generate: the encoder input must hold at least one token id");
    check_ids(w->enc_, mh->m->cfg.vocab_size, "encoder ids");
    w->st_.frozen = t5_adapter_list(info[2], mh->m.get());
    w->opt_ = gen_options(opt_obj(info, 3), *mh->m);
  });
}

// A generation run step by step (serve streams T5 answers token by token, cancels between tokens).
struct T5SessionHandle : Handle {
  std::shared_ptr<T5Model> m; // keeps the model the session reads alive
  std::unique_ptr<t5::T5Session> s;
  std::atomic<bool> busy{false};
};

class SessionStartWorker : public Worker {
 public:
  using Worker::Worker;
  ~SessionStartWorker() override { delete h_; }
  void run() override {
    h_->s = std::make_unique<t5::T5Session>(*h_->m, std::move(st_), opt_, top_);
    h_->s->start(enc_);
  }
  Napi::Value result(Napi::Env env) override {
    auto* h = h_;
    h_ = nullptr;
    return wrap(env, h);
  }
  T5SessionHandle* h_ = new T5SessionHandle();
  t5::T5Stack st_;
  std::vector<int32_t> enc_;
  GenOptions opt_;
  int top_ = 0;
};

// t5SessionStart(model, encIds, adapters, {maxTokens, temperature, topK, topP, seed, eos, topLogprobs}): runs the
// encoder; resolves to a session handle for t5SessionNext.
Napi::Value SessionStart(const Napi::CallbackInfo& info) {
  T5ModelHandle* mh = get_handle<T5ModelHandle>(info[0], "T5 model");
  return setup_and_queue(new SessionStartWorker(info.Env()), [&](SessionStartWorker* w) {
    w->h_->m = mh->m;
    w->enc_ = int32s(info[1], "encoder ids");
    if (w->enc_.empty()) usage("t5SessionStart: the encoder input must hold at least one token id");
    check_ids(w->enc_, mh->m->cfg.vocab_size, "encoder ids");
    w->st_.frozen = t5_adapter_list(info[2], mh->m.get());
    Napi::Object o = opt_obj(info, 3);
    w->opt_ = gen_options(o, *mh->m);
    w->top_ = int_or(o, "topLogprobs", 0, 0, mh->m->cfg.vocab_size);
  });
}

class SessionNextWorker : public Worker {
 public:
  using Worker::Worker;
  ~SessionNextWorker() override {
    if (h_) h_->busy = false;
  }
  void run() override { t_ = h_->s->next(); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("token", t_.token);
    o.Set("logprob", t_.logprob);
    if (!t_.top_ids.empty()) {
      Napi::Int32Array ids = Napi::Int32Array::New(env, t_.top_ids.size());
      std::copy(t_.top_ids.begin(), t_.top_ids.end(), ids.Data());
      o.Set("topIds", ids);
      o.Set("topLogprobs", floats(env, t_.top_logprobs));
    }
    o.Set("finish", t_.finish ? Napi::Value(Napi::String::New(env, t_.finish)) : env.Null());
    return o;
  }
  T5SessionHandle* h_ = nullptr;
  Napi::Reference<Napi::External<Handle>> keep_; // the session stays alive while its token is decoded
  t5::T5Token t_;
};

// t5SessionNext(session) -> {token, logprob, topIds?, topLogprobs?, finish: "stop" | "length" | null}.
Napi::Value SessionNext(const Napi::CallbackInfo& info) {
  T5SessionHandle* h = get_handle<T5SessionHandle>(info[0], "T5 session");
  if (h->s->done()) usage("t5SessionNext: the generation has finished");
  if (h->busy.exchange(true)) usage("t5SessionNext: the session is already decoding a token");
  auto* w = new SessionNextWorker(info.Env());
  w->h_ = h;
  w->keep_ = Napi::Persistent(info[0].As<Napi::External<Handle>>());
  return queue(w);
}

Napi::Value TrainerCreate(const Napi::CallbackInfo& info) {
  T5ModelHandle* mh = get_handle<T5ModelHandle>(info[0], "T5 model");
  T5AdapterHandle* ah = get_handle<T5AdapterHandle>(info[1], "T5 adapter");
  if (ah->m != mh->m) usage("the trainable adapter was made for another model handle");
  Napi::Object o = opt_obj(info, 3);
  t5::T5TrainOptions t;
  t.weight_decay = (float)num_or(o, "weightDecay", 0, 0, 1e3);
  t.beta1 = (float)num_or(o, "beta1", 0.9, 0, 0.999999);
  t.beta2 = (float)num_or(o, "beta2", 0.999, 0, 0.99999999);
  t.eps = (float)num_or(o, "eps", 1e-8, 0, 1);
  t.max_grad_norm = (float)num_or(o, "maxGradNorm", 0, 0, 1e9);
  t.token_weighted = bool_or(o, "tokenWeighted", false);
  t.dropout = (float)num_or(o, "dropout", 0, 0, 0.99);
  t.seed = (uint64_t)num_or(o, "seed", 0, 0, 9007199254740991.0);
  auto frozen = t5_adapter_list(info[2], mh->m.get());
  for (auto& f : frozen)
    if (f.first == ah->a) usage("the trainable adapter is also listed among the frozen adapters");
  auto* h = new T5TrainerHandle();
  h->t = std::make_shared<t5::T5Trainer>(mh->m, ah->a, (float)num_or(o, "weight", 1, -1e6, 1e6), std::move(frozen), t);
  h->m = mh->m;
  return wrap(info.Env(), h);
}

// [{enc, dec, labels}] (Int32Arrays) to examples, each checked.
std::vector<t5::T5Example> examples(const Napi::Value& v, const T5Model& m, const std::string& what) {
  if (!v.IsArray()) usage(what + " must be an array of {enc, dec, labels}");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<t5::T5Example> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!a.Get(i).IsObject()) usage(what + "[" + std::to_string(i) + "] must be {enc, dec, labels}");
    Napi::Object o = a.Get(i).As<Napi::Object>();
    out[i].enc = int32s(o.Get("enc"), "enc");
    out[i].dec = int32s(o.Get("dec"), "dec");
    out[i].labels = int32s(o.Get("labels"), "labels");
    if (out[i].enc.empty() || out[i].dec.empty() || out[i].labels.size() != out[i].dec.size())
      usage(what + "[" + std::to_string(i) + "]: enc and dec must be non-empty and labels as long as dec");
    check_ids(out[i].enc, m.cfg.vocab_size, "enc");
    check_ids(out[i].dec, m.cfg.vocab_size, "dec");
  }
  return out;
}

class StepWorker : public Worker {
 public:
  using Worker::Worker;
  ~StepWorker() override {
    if (h_) h_->busy = false;
  }
  void run() override {
    for (size_t i = 0; i < steps_.size(); i++) results_.push_back(t_->step(steps_[i], lrs_[i]));
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("loss", results_[i].loss);
      o.Set("gradNorm", results_[i].grad_norm);
      o.Set("clipCoef", results_[i].clip_coef);
      o.Set("tokens", (double)results_[i].tokens);
      out.Set((uint32_t)i, o);
    }
    return out;
  }
  T5TrainerHandle* h_ = nullptr;
  std::shared_ptr<t5::T5Trainer> t_;
  std::vector<std::vector<std::vector<t5::T5Example>>> steps_; // [step][micro-batch][example]
  std::vector<float> lrs_;
  std::vector<t5::T5StepResult> results_;
};

// t5TrainerStep(trainer, [step: [micro-batch: [{enc, dec, labels}]]], lrs[]): optimizer steps in order; resolves to
// [{loss, gradNorm, clipCoef, tokens}] per step.
Napi::Value TrainerStep(const Napi::CallbackInfo& info) {
  T5TrainerHandle* h = get_handle<T5TrainerHandle>(info[0], "T5 trainer");
  if (h->busy.exchange(true)) usage("the T5 trainer is already running a step");
  auto* sw = new StepWorker(info.Env());
  sw->h_ = h;
  return setup_and_queue(sw, [&](StepWorker* w) {
    w->t_ = h->t;
    if (!info[1].IsArray() || !info[2].IsArray()) usage("t5TrainerStep(trainer, steps, lrs): arrays expected");
    Napi::Array steps = info[1].As<Napi::Array>(), lrs = info[2].As<Napi::Array>();
    if (steps.Length() != lrs.Length()) usage("t5TrainerStep: one learning rate per step");
    for (uint32_t s = 0; s < steps.Length(); s++) {
      if (!steps.Get(s).IsArray()) usage("t5TrainerStep: each step is an array of micro-batches");
      Napi::Array mbs = steps.Get(s).As<Napi::Array>();
      std::vector<std::vector<t5::T5Example>> micro;
      for (uint32_t g = 0; g < mbs.Length(); g++) micro.push_back(examples(mbs.Get(g), *h->m, "micro-batch"));
      if (micro.empty()) usage("t5TrainerStep: a step needs at least one micro-batch");
      w->steps_.push_back(std::move(micro));
      if (!lrs.Get(s).IsNumber()) usage("t5TrainerStep: learning rates must be numbers");
      w->lrs_.push_back(lrs.Get(s).As<Napi::Number>().FloatValue());
    }
  });
}

class EvalWorker : public Worker {
 public:
  using Worker::Worker;
  void run() override { r_ = t_->eval(xs_); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("lossSum", r_.first);
    o.Set("tokens", (double)r_.second);
    return o;
  }
  std::shared_ptr<t5::T5Trainer> t_;
  std::vector<t5::T5Example> xs_;
  std::pair<double, long> r_;
};

// t5TrainerEval(trainer, [{enc, dec, labels}]) -> {lossSum, tokens} with the trainer's adapters, no update.
Napi::Value TrainerEval(const Napi::CallbackInfo& info) {
  T5TrainerHandle* h = get_handle<T5TrainerHandle>(info[0], "T5 trainer");
  return setup_and_queue(new EvalWorker(info.Env()), [&](EvalWorker* w) {
    w->t_ = h->t;
    w->xs_ = examples(info[1], *h->m, "examples");
  });
}

// t5TrainerSaveState(trainer, path): the AdamW state (exp_avg / exp_avg_sq per LoRA tensor, PEFT key + suffix) and the
// step count (metadata) as safetensors, for a checkpoint.
Napi::Value TrainerSaveState(const Napi::CallbackInfo& info) {
  T5TrainerHandle* h = get_handle<T5TrainerHandle>(info[0], "T5 trainer");
  if (h->busy) usage("cannot save the optimizer state while the trainer runs");
  const std::string path = get_str(info, 1, "path");
  std::vector<NamedTensor> ts;
  std::vector<const std::vector<float>*> sq;
  t5::t5_for_each_tensor(h->t->exp_avg_sq(),
                         [&](const std::string&, const std::vector<float>& v) { sq.push_back(&v); });
  size_t i = 0;
  t5::t5_for_each_tensor(h->t->exp_avg(), [&](const std::string& k, const std::vector<float>& m) {
    ts.push_back({k + ".exp_avg", {(int64_t)m.size()}, m.data()});
    ts.push_back({k + ".exp_avg_sq", {(int64_t)sq[i]->size()}, sq[i]->data()});
    i++;
  });
  write_optimizer_state(path, ts, h->t->steps_done());
  return info.Env().Undefined();
}

// t5TrainerLoadState(trainer, path): restores what t5TrainerSaveState wrote (every tensor present, sized as the
// trainer's, none extra), so training goes on exactly where the checkpoint was taken.
Napi::Value TrainerLoadState(const Napi::CallbackInfo& info) {
  T5TrainerHandle* h = get_handle<T5TrainerHandle>(info[0], "T5 trainer");
  if (h->busy) usage("cannot load the optimizer state while the trainer runs");
  const std::string path = get_str(info, 1, "path");
  OptimizerStateReader f(path);
  for (int which = 0; which < 2; which++)
    t5::t5_for_each_tensor(which ? h->t->exp_avg_sq() : h->t->exp_avg(),
                           [&](const std::string& key, std::vector<float>& dst) { f.read(key, which == 1, dst); });
  h->t->set_steps_done(f.finish());
  return info.Env().Undefined();
}

Napi::Value TrainerAdapter(const Napi::CallbackInfo& info) {
  T5TrainerHandle* h = get_handle<T5TrainerHandle>(info[0], "T5 trainer");
  return wrap_t5_adapter(info.Env(), h->t->adapter(), h->m);
}

} // namespace

void register_t5(Napi::Env env, Napi::Object exports) {
  export_fn<LoadModel>(env, exports, "t5LoadModel");
  export_fn<ModelInfo>(env, exports, "t5ModelInfo");
  export_fn<LoadAdapter>(env, exports, "t5LoadAdapter");
  export_fn<InitAdapter>(env, exports, "t5InitAdapter");
  export_fn<SaveAdapter>(env, exports, "t5SaveAdapter");
  export_fn<AdapterTensors>(env, exports, "t5AdapterTensors");
  export_fn<AdapterSetTensor>(env, exports, "t5AdapterSetTensor");
  export_fn<Score>(env, exports, "t5Score");
  export_fn<Generate>(env, exports, "t5Generate");
  export_fn<SessionStart>(env, exports, "t5SessionStart");
  export_fn<SessionNext>(env, exports, "t5SessionNext");
  export_fn<TrainerCreate>(env, exports, "t5TrainerCreate");
  export_fn<TrainerStep>(env, exports, "t5TrainerStep");
  export_fn<TrainerEval>(env, exports, "t5TrainerEval");
  export_fn<TrainerAdapter>(env, exports, "t5TrainerAdapter");
  export_fn<TrainerSaveState>(env, exports, "t5TrainerSaveState");
  export_fn<TrainerLoadState>(env, exports, "t5TrainerLoadState");
}

} // namespace peft::binding
