// JS bindings of the batched decoder (src/engine/batch.ts): decoderCreate(model, opts) -> handle;
// decoderStep(handle, adds, drops, opts) -> Promise<{events, rejected, prefillRows}> runs one step off the JS thread (adds and drops
// are applied in the same worker, before the forward, so the decoder is only ever touched by one thread at a time);
// decoderInfo(handle) -> its fixed sizes.
#include <napi.h>
#include <atomic>
#include <memory>
#include <string>
#include <vector>
#include "binding/args.h"
#include "binding/handles.h"
#include "binding/register.h"
#include "binding/worker.h"
#include "decode/batch_decoder.h"
#include "error.h"

namespace peft::binding {
namespace {

struct DecoderBox {
  std::shared_ptr<LlamaModel> m;
  std::shared_ptr<BatchDecoder> d;
  std::atomic<bool> busy{false};
};

DecoderBox* box_of(const Napi::Value& v) {
  if (!v.IsExternal()) usage("expected a decoder handle");
  return v.As<Napi::External<DecoderBox>>().Data();
}

Napi::Value DecoderCreate(const Napi::CallbackInfo& info) {
  ModelHandle* mh = get_handle<ModelHandle>(info[0], "model");
  Napi::Object o = opt_obj(info, 1);
  const int max_batch = int_or(o, "maxBatch", 16, 1, 4096);
  const double budget = num_or(o, "kvBudgetBytes", 1024.0 * 1024 * 1024, 1, 1e15);
  auto* b = new DecoderBox();
  b->m = mh->m;
  b->d = std::make_shared<BatchDecoder>(mh->m, max_batch, (size_t)budget);
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

class StepWorker : public Worker {
 public:
  StepWorker(Napi::Env env, DecoderBox* box) : Worker(env), box_(box), d_(box->d) {}
  std::vector<DecodeRequest> adds_;
  std::vector<int64_t> drops_;
  int prefill_rows_ = 512;

 protected:
  void run() override {
    for (int64_t id : drops_) d_->drop(id);
    for (auto& r : adds_) {
      const int64_t id = r.id;
      try {
        d_->add(std::move(r));
      } catch (const EngineError& e) { // this request only (batch or KV budget full, bad ids): the step goes on
        rejected_.push_back({id, e.code, e.what()});
      }
    }
    events_ = d_->step(prefill_rows_);
    prefill_ = d_->last_prefill_rows();
  }
  Napi::Value result(Napi::Env env) override {
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
    out.Set("prefillRows", prefill_);
    return out;
  }
  void OnOK() override {
    box_->busy = false;
    Worker::OnOK();
  }
  void OnError(const Napi::Error& e) override {
    box_->busy = false;
    Worker::OnError(e);
  }

 private:
  struct Rejected {
    int64_t id;
    std::string code, message;
  };
  DecoderBox* box_;
  std::shared_ptr<BatchDecoder> d_; // keeps the decoder alive while the step runs
  std::vector<DecodeEvent> events_;
  std::vector<Rejected> rejected_;
  int prefill_ = 0; // prompt rows the step ran
};

DecodeRequest parse_add(const Napi::Value& v, const LlamaModel* m, uint32_t i) {
  const std::string at = "adds[" + std::to_string(i) + "]";
  if (!v.IsObject()) usage(at + " must be an object");
  Napi::Object o = v.As<Napi::Object>();
  DecodeRequest r;
  Napi::Value id = o.Get("id");
  if (!id.IsNumber()) usage(at + ".id must be a number");
  r.id = id.As<Napi::Number>().Int64Value();
  r.prompt = int32s(o.Get("prompt"), (at + ".prompt").c_str());
  r.adapters = adapter_list(o.Get("adapters"), m);
  r.opt.max_tokens = int_or(o, "maxTokens", 16, 1, 1 << 20);
  r.opt.temperature = (float)num_or(o, "temperature", 0, 0, 1e6);
  r.opt.top_k = int_or(o, "topK", 0, 0, 1 << 30);
  r.opt.top_p = (float)num_or(o, "topP", 1, 1e-9, 1);
  r.opt.seed = (uint64_t)num_or(o, "seed", 0, 0, 9007199254740991.0);
  r.top_logprobs = int_or(o, "topLogprobs", 0, 0, 1 << 20);
  Napi::Value eos = o.Get("eos");
  if (eos.IsUndefined() || eos.IsNull())
    r.opt.eos = m->cfg.eos_token_ids;
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
  return setup_and_queue(new StepWorker(info.Env(), b), [&](StepWorker* w) {
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
    w->prefill_rows_ = int_or(opt_obj(info, 3), "prefillRows", 512, 1, 1 << 20);
    if (b->busy.exchange(true)) usage("decoderStep: a step of this decoder is already running (await it first)");
  });
}

} // namespace

void register_decode(Napi::Env env, Napi::Object exports) {
  export_fn<DecoderCreate>(env, exports, "decoderCreate");
  export_fn<DecoderStep>(env, exports, "decoderStep");
  export_fn<DecoderInfo>(env, exports, "decoderInfo");
}

} // namespace peft::binding
