// JS bindings of the batched decoder (registered from addon.cc): decoderCreate(model, opts) -> handle;
// decoderStep(handle, adds, drops, opts) -> Promise<{events, rejected}> runs one step off the JS thread (adds and drops
// are applied in the same worker, before the forward, so the decoder is only ever touched by one thread);
// decoderInfo(handle) -> its fixed sizes.
#include <napi.h>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include "../error.h"
#include "../napi_guard.h"
#include "batch_decoder.h"

namespace peft {

// engine_binding.cc
std::mutex& engine_compute_mutex();
std::shared_ptr<LlamaModel> model_from_handle(const Napi::Value& v);
std::vector<std::pair<std::shared_ptr<Adapter>, float>> adapters_from_refs(const Napi::Value& v, const LlamaModel* m);

namespace {

struct DecoderBox {
  std::shared_ptr<LlamaModel> m;
  std::shared_ptr<BatchDecoder> d;
  std::atomic<bool> busy{false};
};

[[noreturn]] void usage(const std::string& msg) { throw EngineError("E_ENGINE", msg); }

DecoderBox* box_of(const Napi::Value& v) {
  if (!v.IsExternal()) usage("expected a decoder handle");
  return v.As<Napi::External<DecoderBox>>().Data();
}

double num(const Napi::Object& o, const char* key, double dflt, double lo, double hi) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) usage(std::string("option '") + key + "' must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < lo || d > hi)
    usage(std::string("option '") + key + "' = " + std::to_string(d) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return d;
}
int integer(const Napi::Object& o, const char* key, int dflt, int lo, int hi) {
  const double d = num(o, key, dflt, lo, hi);
  if (d != std::floor(d)) usage(std::string("option '") + key + "' must be an integer");
  return (int)d;
}

Napi::Value DecoderCreate(const Napi::CallbackInfo& info) {
  std::shared_ptr<LlamaModel> m = model_from_handle(info[0]);
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env());
  const int max_batch = integer(o, "maxBatch", 16, 1, 4096);
  const double budget = num(o, "kvBudgetBytes", 1024.0 * 1024 * 1024, 1, 1e15);
  auto* b = new DecoderBox();
  b->m = m;
  b->d = std::make_shared<BatchDecoder>(m, max_batch, (size_t)budget);
  return Napi::External<DecoderBox>::New(info.Env(), b, [](Napi::Env, DecoderBox* p) { delete p; });
}

Napi::Value DecoderInfo(const Napi::CallbackInfo& info) {
  DecoderBox* b = box_of(info[0]);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("maxBatch", b->d->max_batch());
  o.Set("kvBudgetBytes", (double)b->d->kv_budget());
  o.Set("kvBytesPerToken", (double)b->d->kv_bytes_per_token());
  return o;
}

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, DecoderBox* box)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), box_(box), d_(box->d) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  std::vector<DecodeRequest> adds_;
  std::vector<int64_t> drops_;
  int prefill_rows_ = 512;

 protected:
  void Execute() override {
    std::lock_guard<std::mutex> lock(engine_compute_mutex());
    try {
      for (int64_t id : drops_) d_->drop(id);
      for (auto& r : adds_) {
        const int64_t id = r.id;
        try {
          d_->add(std::move(r));
        } catch (const EngineError& e) {
          rejected_.push_back({id, e.code, e.what()});
        }
      }
      events_ = d_->step(prefill_rows_);
    } catch (const EngineError& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "E_ENGINE";
      SetError("out of memory in a decode step");
    } catch (const std::exception& e) {
      code_ = "E_INTERNAL";
      SetError(e.what());
    }
  }
  void OnOK() override {
    box_->busy = false;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Array evs = Napi::Array::New(env, events_.size());
    for (size_t i = 0; i < events_.size(); i++) {
      const DecodeEvent& e = events_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", (double)e.id);
      o.Set("token", e.token);
      o.Set("logprob", e.logprob);
      if (!e.top_ids.empty()) {
        Napi::Int32Array ids = Napi::Int32Array::New(env, e.top_ids.size());
        Napi::Float32Array lps = Napi::Float32Array::New(env, e.top_logprobs.size());
        std::copy(e.top_ids.begin(), e.top_ids.end(), ids.Data());
        std::copy(e.top_logprobs.begin(), e.top_logprobs.end(), lps.Data());
        o.Set("topIds", ids);
        o.Set("topLogprobs", lps);
      }
      o.Set("finish", e.finish ? Napi::Value(Napi::String::New(env, e.finish)) : env.Null());
      evs.Set(i, o);
    }
    Napi::Array rej = Napi::Array::New(env, rejected_.size());
    for (size_t i = 0; i < rejected_.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", (double)rejected_[i].id);
      o.Set("code", rejected_[i].code);
      o.Set("message", rejected_[i].message);
      rej.Set(i, o);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("events", evs);
    out.Set("rejected", rej);
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override {
    box_->busy = false;
    Napi::HandleScope scope(Env());
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(err.Value());
  }

 private:
  struct Rejected {
    int64_t id;
    std::string code, message;
  };
  Napi::Promise::Deferred deferred_;
  DecoderBox* box_;
  std::shared_ptr<BatchDecoder> d_;
  std::vector<DecodeEvent> events_;
  std::vector<Rejected> rejected_;
  std::string code_ = "E_INTERNAL";
};

DecodeRequest parse_add(const Napi::Value& v, const LlamaModel* m, uint32_t i) {
  const std::string at = "adds[" + std::to_string(i) + "]";
  if (!v.IsObject()) usage(at + " must be an object");
  Napi::Object o = v.As<Napi::Object>();
  DecodeRequest r;
  Napi::Value id = o.Get("id");
  if (!id.IsNumber()) usage(at + ".id must be a number");
  r.id = id.As<Napi::Number>().Int64Value();
  Napi::Value p = o.Get("prompt");
  if (!p.IsTypedArray() || p.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) usage(at + ".prompt must be an Int32Array");
  Napi::Int32Array pa = p.As<Napi::Int32Array>();
  r.prompt.assign(pa.Data(), pa.Data() + pa.ElementLength());
  r.adapters = adapters_from_refs(o.Get("adapters"), m);
  r.opt.max_tokens = integer(o, "maxTokens", 16, 1, 1 << 20);
  r.opt.temperature = (float)num(o, "temperature", 0, 0, 1e6);
  r.opt.top_k = integer(o, "topK", 0, 0, 1 << 30);
  r.opt.top_p = (float)num(o, "topP", 1, 1e-9, 1);
  r.opt.seed = (uint64_t)num(o, "seed", 0, 0, 9007199254740991.0);
  r.top_logprobs = integer(o, "topLogprobs", 0, 0, 1 << 20);
  Napi::Value eos = o.Get("eos");
  if (eos.IsUndefined() || eos.IsNull()) r.opt.eos = m->cfg.eos_token_ids;
  else {
    if (!eos.IsArray()) usage(at + ".eos must be an array of token ids");
    Napi::Array a = eos.As<Napi::Array>();
    for (uint32_t j = 0; j < a.Length(); j++) {
      Napi::Value e = a.Get(j);
      if (!e.IsNumber()) usage(at + ".eos must be an array of token ids");
      r.opt.eos.push_back(e.As<Napi::Number>().Int32Value());
    }
  }
  return r;
}

Napi::Value DecoderStep(const Napi::CallbackInfo& info) {
  DecoderBox* b = box_of(info[0]);
  auto* w = new StepWorker(info.Env(), b);
  try {
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsArray()) usage("adds must be an array");
      Napi::Array a = info[1].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) w->adds_.push_back(parse_add(a.Get(i), b->m.get(), i));
    }
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsArray()) usage("drops must be an array of ids");
      Napi::Array a = info[2].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value e = a.Get(i);
        if (!e.IsNumber()) usage("drops must be an array of ids");
        w->drops_.push_back(e.As<Napi::Number>().Int64Value());
      }
    }
    if (info.Length() > 3 && info[3].IsObject()) w->prefill_rows_ = integer(info[3].As<Napi::Object>(), "prefillRows", 512, 1, 1 << 20);
    if (b->busy.exchange(true)) usage("decoderStep: a step of this decoder is already running (await it first)");
  } catch (...) {
    delete w;
    throw;
  }
  auto p = w->promise();
  w->Queue();
  return p;
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return run_guarded(info, "E_INTERNAL", "", [&] { return F(info); });
}

} // namespace

void register_decode_bindings(Napi::Env env, Napi::Object exports) {
  exports.Set("decoderCreate", Napi::Function::New(env, guarded<DecoderCreate>));
  exports.Set("decoderStep", Napi::Function::New(env, guarded<DecoderStep>));
  exports.Set("decoderInfo", Napi::Function::New(env, guarded<DecoderInfo>));
}

} // namespace peft
