// JS bindings of the engine core (registered from addon.cc): opaque model / adapter / trainer handles, and
// AsyncWorkers for load, score, generate and train so the work runs off the JS thread. Every argument is checked;
// engine errors become JS Errors with a `code`; progress goes through a ThreadSafeFunction; cancellation is an
// atomic flag checked between steps.
#include <napi.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include "adapter_io.h"
#include "error.h"
#include "napi_guard.h"
#include "ops/attention_bf16.h"
#include "profile.h"
#include "generate.h"
#include "kernels/kernels.h"
#include "llama.h"
#include "model/safetensors.h"
#include "train.h"

namespace peft {

std::mutex& engine_compute_mutex() {
  static std::mutex mu;
  return mu;
}

namespace {

// ---------- handles ----------
struct Handle {
  virtual ~Handle() = default;
};
struct ModelHandle : Handle {
  std::shared_ptr<LlamaModel> m;
};
struct AdapterHandle : Handle {
  std::shared_ptr<Adapter> a;
  std::shared_ptr<LlamaModel> m; // the model it was shaped for
};
struct TrainerHandle : Handle {
  std::shared_ptr<Trainer> t;
  std::shared_ptr<LlamaModel> m;
  std::shared_ptr<Adapter> a;
  std::atomic<bool> busy{false};
};

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  return e;
}
[[noreturn]] void usage(const std::string& msg) { throw EngineError("E_ENGINE", msg); }

template <class H>
H* get_handle(const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) usage(std::string("expected a ") + what + " handle");
  Handle* h = v.As<Napi::External<Handle>>().Data();
  H* r = dynamic_cast<H*>(h);
  if (!r) usage(std::string("expected a ") + what + " handle, got another kind of handle");
  return r;
}
template <class H>
Napi::Value wrap(Napi::Env env, H* h) {
  return Napi::External<Handle>::New(env, h, [](Napi::Env, Handle* p) { delete p; });
}

Napi::Object opt_obj(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) usage("argument " + std::to_string(i + 1) + " must be an options object");
  return info[i].As<Napi::Object>();
}
std::string get_str(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) usage(std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}
double num_or(const Napi::Object& o, const char* key, double dflt, double lo, double hi) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) usage(std::string("option '") + key + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < lo || d > hi)
    usage(std::string("option '") + key + "' = " + std::to_string(d) + " is outside [" + std::to_string(lo) + ", " +
          std::to_string(hi) + "]");
  return d;
}
int int_or(const Napi::Object& o, const char* key, int dflt, int lo, int hi) {
  double d = num_or(o, key, dflt, lo, hi);
  if (d != std::floor(d)) usage(std::string("option '") + key + "' must be an integer");
  return (int)d;
}
bool bool_or(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsBoolean()) usage(std::string("option '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}
std::string str_or(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsString()) usage(std::string("option '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}
std::vector<int32_t> int32s(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    usage(std::string(name) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}
void check_ids(const std::vector<int32_t>& ids, int V, const char* name) {
  for (size_t i = 0; i < ids.size(); i++)
    if (ids[i] < 0 || ids[i] >= V)
      usage(std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
            " is not a token id of this model (vocabulary size " + std::to_string(V) + ")");
}
std::vector<std::string> strings(const Napi::Value& v, const char* name) {
  if (!v.IsArray()) usage(std::string(name) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) usage(std::string(name) + "[" + std::to_string(i) + "] must be a string");
    out.push_back(e.As<Napi::String>().Utf8Value());
  }
  return out;
}
// [{adapter, weight}] -> frozen stack entries (effective scale = adapter scaling * weight)
std::vector<std::pair<std::shared_ptr<Adapter>, float>> adapter_list(const Napi::Value& v, const LlamaModel* m) {
  std::vector<std::pair<std::shared_ptr<Adapter>, float>> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) usage("adapters must be an array of {adapter, weight}");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsObject()) usage("adapters[" + std::to_string(i) + "] must be {adapter, weight}");
    Napi::Object o = e.As<Napi::Object>();
    AdapterHandle* h = get_handle<AdapterHandle>(o.Get("adapter"), "adapter");
    if (h->m.get() != m) usage("adapters[" + std::to_string(i) + "] was loaded for another model handle");
    const double w = num_or(o, "weight", 1.0, -1e6, 1e6);
    out.emplace_back(h->a, (float)(h->a->scaling() * w));
  }
  return out;
}

// ---------- async worker base ----------
class Worker : public Napi::AsyncWorker {
 public:
  explicit Worker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  virtual void run() = 0;
  virtual Napi::Value result(Napi::Env env) = 0;
  void Execute() override {
    // One computation at a time: the kernels share one thread pool, and the CPU is the limit anyway.
    std::lock_guard<std::mutex> lock(engine_compute_mutex());
    try {
      run();
    } catch (const EngineError& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "E_ENGINE";
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = "E_INTERNAL";
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    try {
      deferred_.Resolve(result(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(make_error(Env(), code_, e.Message()).Value());
  }
  Napi::Promise::Deferred deferred_;
  std::string code_ = "E_INTERNAL";
};

// Queues a worker and returns its promise (the worker deletes itself when done).
template <typename W>
Napi::Value queue(W* w) {
  auto p = w->promise();
  w->Queue();
  return p;
}

// Fills a new worker with `setup` (argument checks that may throw: then the worker is deleted, never queued), then
// queues it.
template <typename W, typename F>
Napi::Value setup_and_queue(W* w, F&& setup) {
  try {
    setup(w);
  } catch (...) {
    delete w;
    throw;
  }
  return queue(w);
}

// ---------- loadModel ----------
class LoadWorker : public Worker {
 public:
  LoadWorker(Napi::Env env, std::string dir, kern::Storage s, kern::Compute c) : Worker(env), dir_(std::move(dir)), s_(s), c_(c) {}
  void run() override { m_ = load_llama(dir_, s_, c_); }
  Napi::Value result(Napi::Env env) override {
    auto* h = new ModelHandle();
    h->m = m_;
    return wrap(env, h);
  }
  std::string dir_;
  kern::Storage s_;
  kern::Compute c_;
  std::shared_ptr<LlamaModel> m_;
};

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  std::string dir = get_str(info, 0, "dir");
  Napi::Object o = opt_obj(info, 1);
  std::string quant = str_or(o, "quant", "none"), compute = str_or(o, "compute", "fp32");
  if (quant != "none" && quant != "nf4") usage("quant must be 'none' or 'nf4', got '" + quant + "'");
  if (compute != "fp32" && compute != "bf16") usage("compute must be 'fp32' or 'bf16', got '" + compute + "'");
  int threads = int_or(o, "threads", -1, -1, 1024);
  if (threads >= 0) kern::set_threads(threads);
  auto* w = new LoadWorker(info.Env(), dir, quant == "nf4" ? kern::Storage::NF4 : kern::Storage::F32,
                           compute == "bf16" ? kern::Compute::BF16 : kern::Compute::F32);
  return queue(w);
}

// Which kernels each op family of a training step runs with for this model's compute mode (training log, adapter
// metadata, bench output).
std::string compute_kernels(const LlamaModel& m) {
  if (m.compute == kern::Compute::BF16 && kern::bf16_native()) {
    ops::AttnShape s{};
    s.hd = m.cfg.head_dim;
    const std::string attention = ops::attention_bf16_supported(s)
                                      ? "attention AVX512-BF16 flash-style kernels (64x64 tiles, online softmax)"
                                      : "attention blocked (128 queries) oneDNN bf16 matmul + AVX-512 exp";
    return "bf16: projections oneDNN bf16 matmul, fp32 accumulation (NF4 to bf16 per tile, no full copy), trainable "
           "LoRA in bf16 folded into the frozen matmuls as extra K; lm_head+CE bf16 in 256-row chunks over 4 "
           "vocabulary slices, AVX-512 logsumexp; " + attention + "; SwiGLU AVX-512; q/k/v/attention/gate/up kept in "
           "bf16 for the backward; norms, softmax, loss, LoRA weights/gradients, AdamW fp32; decode steps "
           "(< 32 rows) fp32 (NF4 decoded in registers)";
  }
  if (m.compute == kern::Compute::BF16)
    return "bf16 requested but no native bf16 matmul: bf16 inputs widened to fp32 sgemm (install libdnnl-dev)";
  return "fp32: every matmul fp32 sgemm; exp in fp32 / double (the reference numerics)";
}

Napi::Value ModelInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const LlamaModel& m = *get_handle<ModelHandle>(info[0], "model")->m;
  const ModelConfig& c = m.cfg;
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("vocabSize", c.vocab_size);
  o.Set("hiddenSize", c.hidden_size);
  o.Set("intermediateSize", c.intermediate_size);
  o.Set("numLayers", c.num_layers);
  o.Set("numHeads", c.num_heads);
  o.Set("numKvHeads", c.num_kv_heads);
  o.Set("headDim", c.head_dim);
  o.Set("maxPositionEmbeddings", c.max_position_embeddings);
  o.Set("slidingWindow", c.sliding_window);
  o.Set("tieWordEmbeddings", m.lm_head.empty());
  o.Set("bosTokenId", c.bos_token_id);
  Napi::Array eos = Napi::Array::New(env, c.eos_token_ids.size());
  for (size_t i = 0; i < c.eos_token_ids.size(); i++) eos.Set((uint32_t)i, c.eos_token_ids[i]);
  o.Set("eosTokenIds", eos);
  o.Set("ropeScaling", c.rope_scaling.type);
  o.Set("quant", m.storage == kern::Storage::NF4 ? "nf4" : "none");
  o.Set("compute", m.compute == kern::Compute::BF16 ? "bf16" : "fp32");
  o.Set("frozenBytes", (double)m.frozen_bytes());
  o.Set("params", (double)m.params());
  o.Set("backend", kern::backend_info());
  o.Set("kernels", compute_kernels(m));
  return o;
}

// ---------- adapters ----------
Napi::Value LoadAdapter(const Napi::CallbackInfo& info) {
  ModelHandle* mh = get_handle<ModelHandle>(info[0], "model");
  std::string path = get_str(info, 1, "path");
  Napi::Object o = opt_obj(info, 2);
  const int r = int_or(o, "r", 0, 1, 1 << 16);
  const double alpha = num_or(o, "alpha", r, -1e9, 1e9);
  auto* h = new AdapterHandle();
  try {
    h->a = load_adapter(*mh->m, path, r, alpha, bool_or(o, "rslora", false), strings(o.Get("targets"), "targets"),
                        str_or(o, "name", "adapter"));
  } catch (...) {
    delete h;
    throw;
  }
  h->m = mh->m;
  return wrap(info.Env(), h);
}

Napi::Value InitAdapter(const Napi::CallbackInfo& info) {
  ModelHandle* mh = get_handle<ModelHandle>(info[0], "model");
  Napi::Object o = opt_obj(info, 1);
  const int r = int_or(o, "r", 8, 1, 1 << 16);
  auto* h = new AdapterHandle();
  h->a = init_adapter(*mh->m, r, num_or(o, "alpha", 2.0 * r, -1e9, 1e9), bool_or(o, "rslora", false),
                      strings(o.Get("targets"), "targets"), (uint64_t)num_or(o, "seed", 0, 0, 9007199254740991.0));
  h->a->name = str_or(o, "name", "adapter");
  h->m = mh->m;
  return wrap(info.Env(), h);
}

Napi::Value SaveAdapter(const Napi::CallbackInfo& info) {
  AdapterHandle* h = get_handle<AdapterHandle>(info[0], "adapter");
  save_adapter(*h->a, get_str(info, 1, "path"));
  return info.Env().Undefined();
}

Napi::Value AdapterInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Adapter& a = *get_handle<AdapterHandle>(info[0], "adapter")->a;
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", a.name);
  o.Set("r", a.r);
  o.Set("alpha", a.alpha);
  o.Set("rslora", a.rslora);
  o.Set("scaling", a.scaling());
  o.Set("params", (double)a.params());
  Napi::Array mods = Napi::Array::New(env);
  uint32_t k = 0;
  for (size_t l = 0; l < a.mods.size(); l++)
    for (int p = 0; p < N_PROJ; p++)
      if (a.mods[l][p]) mods.Set(k++, "layers." + std::to_string(l) + "." + PROJ_PARENT[p] + "." + PROJ_NAMES[p]);
  o.Set("modules", mods);
  return o;
}

// ---------- score ----------
class ScoreWorker : public Worker {
 public:
  using Worker::Worker;
  void run() override { score_sequence(*m_, st_, ids_, lp_, want_logits_ ? &logits_ : nullptr); }
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
    return o;
  }
  std::shared_ptr<LlamaModel> m_;
  AdapterStack st_;
  std::vector<int32_t> ids_;
  bool want_logits_ = false;
  std::vector<float> lp_, logits_;
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
  });
}

// ---------- generate ----------
class GenerateWorker : public Worker {
 public:
  using Worker::Worker;
  void run() override { out_ = generate(*m_, st_, prompt_, opt_, nullptr); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    Napi::Int32Array t = Napi::Int32Array::New(env, out_.size());
    std::copy(out_.begin(), out_.end(), t.Data());
    o.Set("tokens", t);
    return o;
  }
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

// ---------- training ----------
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
  const float weight = (float)num_or(o, "weight", 1, -1e6, 1e6);
  auto* h = new TrainerHandle();
  try {
    auto frozen = adapter_list(info[2], mh->m.get());
    for (auto& f : frozen)
      if (f.first == ah->a) usage("the trainable adapter is also listed among the frozen adapters");
    h->t = std::make_shared<Trainer>(mh->m, ah->a, weight, std::move(frozen), t);
  } catch (...) {
    delete h;
    throw;
  }
  h->m = mh->m;
  h->a = ah->a;
  return wrap(info.Env(), h);
}

struct BatchSpec {
  std::vector<int32_t> ids, labels;
  int steps = 0, G = 0, B = 0, T = 0;
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
  return b;
}

struct Progress {
  long step;
  double loss, lr, grad_norm, tokens_per_sec;
  long tokens;
};

class TrainWorker : public Worker {
 public:
  TrainWorker(Napi::Env env, TrainerHandle* h, Napi::Object keep) : Worker(env), h_(h), keep_(Napi::Persistent(keep)) {}
  ~TrainWorker() override {
    if (has_tsfn_) tsfn_.Release();
  }
  void run() override {
    Trainer& t = *h_->t;
    const size_t per = (size_t)b_.G * b_.B * b_.T;
    for (int s = 0; s < b_.steps; s++) {
      if (t.cancel.load()) throw EngineError("E_CANCELLED", "training cancelled after step " + std::to_string(t.steps_done()));
      auto t0 = std::chrono::steady_clock::now();
      StepResult r = t.step(b_.ids.data() + s * per, b_.labels.data() + s * per, b_.G, b_.B, b_.T, (float)lrs_[s]);
      double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      results_.push_back(r);
      secs_.push_back(dt);
      if (has_tsfn_) {
        auto* p = new Progress{t.steps_done(), r.loss, lrs_[s], r.grad_norm, (double)per / std::max(dt, 1e-9), r.tokens};
        tsfn_.NonBlockingCall(p, [](Napi::Env env, Napi::Function cb, Progress* p) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("step", (double)p->step);
          o.Set("loss", p->loss);
          o.Set("lr", p->lr);
          o.Set("gradNorm", p->grad_norm);
          o.Set("tokensPerSec", p->tokens_per_sec);
          o.Set("tokens", (double)p->tokens);
          delete p;
          try { cb.Call({o}); } catch (...) {}
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
  void OnOK() override {
    h_->busy = false;
    Worker::OnOK();
  }
  void OnError(const Napi::Error& e) override {
    h_->busy = false;
    h_->t->cancel = false;
    Worker::OnError(e);
  }
  TrainerHandle* h_;
  Napi::ObjectReference keep_; // keeps the trainer handle alive while the worker runs
  BatchSpec b_;
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
  if (h->busy.exchange(true)) usage("this trainer is already running");
  auto* w = new TrainWorker(info.Env(), h, info[0].ToObject());
  w->b_ = std::move(b);
  w->lrs_ = std::move(lrs);
  if (info.Length() > 2 && info[2].IsFunction()) {
    w->tsfn_ = Napi::ThreadSafeFunction::New(info.Env(), info[2].As<Napi::Function>(), "peft-train-progress", 0, 1);
    w->has_tsfn_ = true;
  }
  return queue(w);
}

class EvalWorker : public Worker {
 public:
  EvalWorker(Napi::Env env, TrainerHandle* h, Napi::Object keep) : Worker(env), h_(h), keep_(Napi::Persistent(keep)) {}
  void run() override { losses_ = h_->t->eval(b_.ids.data(), b_.labels.data(), b_.G, b_.B, b_.T); }
  Napi::Value result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, losses_.size());
    for (size_t i = 0; i < losses_.size(); i++) out.Set((uint32_t)i, losses_[i]);
    return out;
  }
  void OnOK() override { h_->busy = false; Worker::OnOK(); }
  void OnError(const Napi::Error& e) override { h_->busy = false; Worker::OnError(e); }
  TrainerHandle* h_;
  Napi::ObjectReference keep_;
  BatchSpec b_;
  std::vector<double> losses_;
};

Napi::Value TrainerEval(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  BatchSpec b = batch_spec(opt_obj(info, 1), *h->m, false);
  if (h->busy.exchange(true)) usage("this trainer is already running");
  auto* w = new EvalWorker(info.Env(), h, info[0].ToObject());
  w->b_ = std::move(b);
  return queue(w);
}

// Gradients of one step's loss (no clipping, no update), as {loss, microLosses, gradNorm, grads: {PEFT key: Float32Array}}.
Napi::Object adapter_tensors(Napi::Env env, const Adapter& a) {
  Napi::Object o = Napi::Object::New(env);
  for (size_t l = 0; l < a.mods.size(); l++)
    for (int p = 0; p < N_PROJ; p++)
      if (const LoraWeights* w = a.mods[l][p].get())
        for (int isA = 1; isA >= 0; isA--) {
          const std::vector<float>& v = isA ? w->A : w->B;
          Napi::Float32Array t = Napi::Float32Array::New(env, v.size());
          std::copy(v.begin(), v.end(), t.Data());
          o.Set(lora_key((int)l, p, isA), t);
        }
  return o;
}

class GradWorker : public Worker {
 public:
  GradWorker(Napi::Env env, TrainerHandle* h, Napi::Object keep) : Worker(env), h_(h), keep_(Napi::Persistent(keep)) {}
  void run() override { r_ = h_->t->accumulate(b_.ids.data(), b_.labels.data(), b_.G, b_.B, b_.T); }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", r_.loss);
    o.Set("gradNorm", r_.grad_norm);
    o.Set("grads", adapter_tensors(env, h_->t->gradients()));
    return o;
  }
  void OnOK() override { h_->busy = false; Worker::OnOK(); }
  void OnError(const Napi::Error& e) override { h_->busy = false; Worker::OnError(e); }
  TrainerHandle* h_;
  Napi::ObjectReference keep_;
  BatchSpec b_;
  StepResult r_;
};

Napi::Value TrainerGradients(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  BatchSpec b = batch_spec(opt_obj(info, 1), *h->m, false);
  if (h->busy.exchange(true)) usage("this trainer is already running");
  auto* w = new GradWorker(info.Env(), h, info[0].ToObject());
  w->b_ = std::move(b);
  return queue(w);
}

Napi::Value AdapterTensors(const Napi::CallbackInfo& info) {
  return adapter_tensors(info.Env(), *get_handle<AdapterHandle>(info[0], "adapter")->a);
}

// Overwrites one LoRA tensor of an adapter (tests, merges): adapterSetTensor(adapter, PEFT key, Float32Array).
Napi::Value AdapterSetTensor(const Napi::CallbackInfo& info) {
  AdapterHandle* h = get_handle<AdapterHandle>(info[0], "adapter");
  const std::string key = get_str(info, 1, "key");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    usage("adapterSetTensor: the value must be a Float32Array");
  Napi::Float32Array v = info[2].As<Napi::Float32Array>();
  Adapter& a = *h->a;
  for (size_t l = 0; l < a.mods.size(); l++)
    for (int p = 0; p < N_PROJ; p++)
      if (LoraWeights* w = a.mods[l][p].get())
        for (int isA = 1; isA >= 0; isA--)
          if (lora_key((int)l, p, isA) == key) {
            std::vector<float>& dst = isA ? w->A : w->B;
            if (v.ElementLength() != dst.size())
              usage("adapterSetTensor: '" + key + "' holds " + std::to_string(dst.size()) + " values, got " +
                    std::to_string(v.ElementLength()));
            std::copy(v.Data(), v.Data() + dst.size(), dst.begin());
            return info.Env().Undefined();
          }
  throw EngineError("E_ADAPTER", "adapterSetTensor: the adapter has no tensor '" + key + "'");
}

Napi::Value TrainerCancel(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  if (h->busy) h->t->cancel = true;
  return info.Env().Undefined();
}

Napi::Value TrainerAdapter(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  auto* a = new AdapterHandle();
  a->a = h->a;
  a->m = h->m;
  return wrap(info.Env(), a);
}

Napi::Value TrainerStep(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)get_handle<TrainerHandle>(info[0], "trainer")->t->steps_done());
}

// Optimizer state: exp_avg / exp_avg_sq per LoRA tensor (PEFT key + suffix), step count in the metadata.
Napi::Value TrainerSaveState(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  if (h->busy) usage("cannot save the optimizer state while the trainer runs");
  std::string path = get_str(info, 1, "path");
  std::vector<NamedTensor> ts;
  Adapter& m = h->t->exp_avg();
  Adapter& v = h->t->exp_avg_sq();
  for (size_t l = 0; l < m.mods.size(); l++)
    for (int p = 0; p < N_PROJ; p++)
      if (m.mods[l][p]) {
        const int64_t r = m.r;
        for (int isA = 1; isA >= 0; isA--) {
          const std::string k = lora_key((int)l, p, isA);
          const std::vector<float>& mm = isA ? m.mods[l][p]->A : m.mods[l][p]->B;
          const std::vector<float>& vv = isA ? v.mods[l][p]->A : v.mods[l][p]->B;
          std::vector<int64_t> shape = isA ? std::vector<int64_t>{r, (int64_t)(mm.size() / r)}
                                           : std::vector<int64_t>{(int64_t)(mm.size() / r), r};
          ts.push_back({k + ".exp_avg", shape, mm.data()});
          ts.push_back({k + ".exp_avg_sq", shape, vv.data()});
        }
      }
  write_safetensors_f32(path, ts, {{"format", "pt"}, {"step", std::to_string(h->t->steps_done())}});
  return info.Env().Undefined();
}

Napi::Value TrainerLoadState(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  if (h->busy) usage("cannot load the optimizer state while the trainer runs");
  std::string path = get_str(info, 1, "path");
  SafetensorsFile f(path);
  Adapter& m = h->t->exp_avg();
  Adapter& v = h->t->exp_avg_sq();
  size_t used = 0;
  for (size_t l = 0; l < m.mods.size(); l++)
    for (int p = 0; p < N_PROJ; p++)
      if (m.mods[l][p])
        for (int isA = 1; isA >= 0; isA--)
          for (int which = 0; which < 2; which++) {
            const std::string k = lora_key((int)l, p, isA) + (which ? ".exp_avg_sq" : ".exp_avg");
            auto it = f.tensors().find(k);
            std::vector<float>& dst = which ? (isA ? v.mods[l][p]->A : v.mods[l][p]->B) : (isA ? m.mods[l][p]->A : m.mods[l][p]->B);
            if (it == f.tensors().end() || (size_t)it->second.numel() != dst.size())
              throw EngineError("E_ADAPTER", path + ": optimizer tensor '" + k + "' is missing or has the wrong size");
            it->second.to_f32(dst.data());
            used++;
          }
  if (used != f.tensors().size())
    throw EngineError("E_ADAPTER", path + ": holds optimizer tensors for modules the trainer does not have");
  auto st = f.metadata().find("step");
  if (st == f.metadata().end()) throw EngineError("E_ADAPTER", path + ": metadata has no 'step'");
  h->t->set_steps_done(std::stol(st->second));
  return info.Env().Undefined();
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
  o.Set("steps", (double)h->t->steps_done());
  return o;
}

// Per-op-family seconds accumulated over training steps since the last reset, and the pool's counters.
// engineProfile({reset: true}) returns the totals and zeroes them.
Napi::Value EngineProfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool reset = info.Length() > 0 && info[0].IsObject() && bool_or(info[0].As<Napi::Object>(), "reset", false);
  const prof::Counters& c = prof::counters();
  const prof::PoolCounters p = prof::pool_counters();
  Napi::Object fam = Napi::Object::New(env);
  double sum = 0;
  for (int f = 0; f < prof::N_FAMILY; f++) {
    fam.Set(prof::FAMILY_NAMES[f], c.sec[f]);
    sum += c.sec[f];
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("families", fam);
  o.Set("steps", (double)c.steps);
  o.Set("stepSeconds", c.step_sec);
  o.Set("unaccounted", c.step_sec > 0 ? c.step_sec - sum : 0.0);
  o.Set("poolWorkerBusySeconds", p.worker_busy_sec);
  o.Set("poolCallerWaitSeconds", p.caller_wait_sec);
  o.Set("poolRegions", (double)p.regions);
  if (reset) prof::reset();
  return o;
}

// What this build computes with: thread count, native bf16 matmul, the kernels' description.
Napi::Value EngineCaps(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("threads", kern::threads());
  o.Set("bf16Native", kern::bf16_native());
  o.Set("backend", kern::backend_info());
  return o;
}

// Measures sgemm GFLOPS on an M x N x K product (best of `iters`), for the benchmark's in-run reference rate.
Napi::Value BenchSgemm(const Napi::CallbackInfo& info) {
  Napi::Object o = opt_obj(info, 0);
  const int M = int_or(o, "M", 2048, 1, 1 << 16), N = int_or(o, "N", 1536, 1, 1 << 16), K = int_or(o, "K", 576, 1, 1 << 16);
  const int iters = int_or(o, "iters", 3, 1, 1000);
  const bool bf16 = bool_or(o, "bf16", false);
  std::vector<float> A((size_t)M * K, 0.01f), B((size_t)N * K, 0.02f), C((size_t)M * N);
  std::vector<uint16_t> A16((size_t)M * K), B16((size_t)N * K);
  kern::f32_to_bf16(A.data(), A16.data(), A.size());
  kern::f32_to_bf16(B.data(), B16.data(), B.size());
  double best = 1e30;
  for (int i = 0; i < iters; i++) {
    auto t0 = std::chrono::steady_clock::now();
    if (bf16) kern::gemm_bf16(false, true, M, N, K, 1.f, A16.data(), K, B16.data(), K, 0.f, C.data(), N);
    else kern::sgemm(false, true, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return Napi::Number::New(info.Env(), 2.0 * M * N * K / best / 1e9);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) usage("setThreads(n): n must be a number (0 = all cores)");
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 0 || n > 1024) usage("setThreads(n): n must be in [0, 1024]");
  kern::set_threads(n);
  return Napi::Number::New(info.Env(), kern::threads());
}

// Wraps a binding so EngineError and std exceptions become JS errors with a code (never an abort); see napi_guard.h.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return run_guarded(info, "E_INTERNAL", "", [&] { return F(info); });
}

} // namespace

// For the other binding files (decode/decode_binding.cc): the model and the adapter stack behind JS handles.
std::shared_ptr<LlamaModel> model_from_handle(const Napi::Value& v) { return get_handle<ModelHandle>(v, "model")->m; }
std::vector<std::pair<std::shared_ptr<Adapter>, float>> adapters_from_refs(const Napi::Value& v, const LlamaModel* m) {
  return adapter_list(v, m);
}

void register_engine_bindings(Napi::Env env, Napi::Object exports) {
  exports.Set("loadModel", Napi::Function::New(env, guarded<LoadModel>));
  exports.Set("modelInfo", Napi::Function::New(env, guarded<ModelInfo>));
  exports.Set("loadAdapter", Napi::Function::New(env, guarded<LoadAdapter>));
  exports.Set("initAdapter", Napi::Function::New(env, guarded<InitAdapter>));
  exports.Set("saveAdapter", Napi::Function::New(env, guarded<SaveAdapter>));
  exports.Set("adapterInfo", Napi::Function::New(env, guarded<AdapterInfo>));
  exports.Set("score", Napi::Function::New(env, guarded<Score>));
  exports.Set("generate", Napi::Function::New(env, guarded<Generate>));
  exports.Set("createTrainer", Napi::Function::New(env, guarded<CreateTrainer>));
  exports.Set("trainerRun", Napi::Function::New(env, guarded<TrainerRun>));
  exports.Set("trainerEval", Napi::Function::New(env, guarded<TrainerEval>));
  exports.Set("trainerGradients", Napi::Function::New(env, guarded<TrainerGradients>));
  exports.Set("adapterTensors", Napi::Function::New(env, guarded<AdapterTensors>));
  exports.Set("adapterSetTensor", Napi::Function::New(env, guarded<AdapterSetTensor>));
  exports.Set("trainerCancel", Napi::Function::New(env, guarded<TrainerCancel>));
  exports.Set("trainerAdapter", Napi::Function::New(env, guarded<TrainerAdapter>));
  exports.Set("trainerStep", Napi::Function::New(env, guarded<TrainerStep>));
  exports.Set("trainerSaveState", Napi::Function::New(env, guarded<TrainerSaveState>));
  exports.Set("trainerLoadState", Napi::Function::New(env, guarded<TrainerLoadState>));
  exports.Set("trainerInfo", Napi::Function::New(env, guarded<TrainerInfo>));
  exports.Set("engineProfile", Napi::Function::New(env, guarded<EngineProfile>));
  exports.Set("engineCaps", Napi::Function::New(env, guarded<EngineCaps>));
  exports.Set("benchSgemm", Napi::Function::New(env, guarded<BenchSgemm>));
  exports.Set("setThreads", Napi::Function::New(env, guarded<SetThreads>));
}

} // namespace peft
