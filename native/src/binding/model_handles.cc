// JS bindings of models and adapters: loadModel (off the JS thread), modelInfo, load / init / save adapters, their
// info and tensors.
#include <napi.h>
#include <memory>
#include <string>
#include <vector>
#include "adapter_io.h"
#include "binding/args.h"
#include "binding/handles.h"
#include "binding/model_fields.h"
#include "binding/register.h"
#include "binding/worker.h"
#include "kernels/kernels.h"
#include "llama_load.h"
#include "ops/attention_bf16.h"

namespace peft::binding {
namespace {

class LoadWorker : public Worker {
 public:
  LoadWorker(Napi::Env env, std::string dir, kern::Storage s, kern::Compute c, bool int8)
      : Worker(env), dir_(std::move(dir)), s_(s), c_(c), int8_(int8) {}
  void run() override {
    m_ = load_llama(dir_, s_, c_);
    if (int8_) enable_int8_decoding(*m_);
  }
  Napi::Value result(Napi::Env env) override {
    auto* h = new ModelHandle();
    h->m = m_;
    return wrap(env, h);
  }
  std::string dir_;
  kern::Storage s_;
  kern::Compute c_;
  bool int8_;
  std::shared_ptr<LlamaModel> m_;
};

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  std::string dir = get_str(info, 0, "dir");
  Napi::Object o = opt_obj(info, 1);
  std::string quant = str_or(o, "quant", "none"), compute = str_or(o, "compute", "fp32");
  if (quant != "none" && quant != "nf4") usage("quant must be 'none' or 'nf4', got '" + quant + "'");
  if (compute != "fp32" && compute != "bf16" && compute != "int8")
    usage("compute must be 'fp32', 'bf16' or 'int8', got '" + compute + "'");
  if (compute == "int8" && quant != "nf4")
    usage("compute 'int8' decodes NF4 weights: it needs quant 'nf4' (or use compute 'fp32' / 'bf16')");
  int threads = int_or(o, "threads", -1, -1, 1024);
  if (threads >= 0) kern::set_threads(threads);
  auto* w = new LoadWorker(info.Env(), dir, quant == "nf4" ? kern::Storage::NF4 : kern::Storage::F32,
                           compute == "bf16" ? kern::Compute::BF16 : kern::Compute::F32, compute == "int8");
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
           "vocabulary slices, AVX-512 logsumexp; " +
           attention +
           "; SwiGLU AVX-512; q/k/v/attention/gate/up kept in "
           "bf16 for the backward; norms, softmax, loss, LoRA weights/gradients, AdamW fp32; decode steps "
           "(< 32 rows) fp32 (NF4 decoded in registers)";
  }
  if (m.int8)
    return "int8 (decoding only): decode rows' NF4 products as int8 levels x int8 inputs per 32 (exact int32 dots, "
           "vpmaddubsw on AVX2), lm_head int8 per 32; prompts of 33+ rows, training and everything else fp32";
  if (m.compute == kern::Compute::BF16)
    return "bf16 requested but no native bf16 matmul: bf16 inputs widened to fp32 sgemm (install libdnnl-dev)";
  return "fp32: every matmul fp32 sgemm (each LoRA in its frozen product's pool region); softmax, loss and SwiGLU "
         "with the vectorised exp of the active ISA, sums in fp32 / double";
}

Napi::Value ModelInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const LlamaModel& m = *get_handle<ModelHandle>(info[0], "model")->m;
  const ModelConfig& c = m.cfg;
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  set_shape_fields(o, c);
  o.Set("slidingWindow", c.sliding_window);
  o.Set("tieWordEmbeddings", m.lm_head.empty());
  o.Set("bosTokenId", c.bos_token_id);
  o.Set("eosTokenIds", int_array(env, c.eos_token_ids));
  o.Set("ropeScaling", c.rope_scaling.type);
  o.Set("quant", m.storage == kern::Storage::NF4 ? "nf4" : "none");
  o.Set("compute", m.int8 ? "int8" : m.compute == kern::Compute::BF16 ? "bf16" : "fp32");
  o.Set("frozenBytes", (double)m.frozen_bytes());
  o.Set("headCopyBytes", (double)(m.head16.size() * sizeof(uint16_t))); // bf16 head copy, within frozenBytes
  o.Set("params", (double)m.params());
  o.Set("backend", kern::backend_info());
  o.Set("kernels", compute_kernels(m));
  return o;
}

Napi::Value LoadAdapter(const Napi::CallbackInfo& info) {
  ModelHandle* mh = get_handle<ModelHandle>(info[0], "model");
  std::string path = get_str(info, 1, "path");
  Napi::Object o = opt_obj(info, 2);
  const int r = int_or(o, "r", 0, 1, 1 << 16);
  const double alpha = num_or(o, "alpha", r, -1e9, 1e9);
  auto a = load_adapter(*mh->m, path, r, alpha, bool_or(o, "rslora", false), strings(o.Get("targets"), "targets"),
                        str_or(o, "name", "adapter"));
  return wrap_adapter(info.Env(), std::move(a), mh->m);
}

Napi::Value InitAdapter(const Napi::CallbackInfo& info) {
  ModelHandle* mh = get_handle<ModelHandle>(info[0], "model");
  Napi::Object o = opt_obj(info, 1);
  const int r = int_or(o, "r", 8, 1, 1 << 16);
  auto a = init_adapter(*mh->m, r, num_or(o, "alpha", 2.0 * r, -1e9, 1e9), bool_or(o, "rslora", false),
                        strings(o.Get("targets"), "targets"), (uint64_t)num_or(o, "seed", 0, 0, 9007199254740991.0));
  a->name = str_or(o, "name", "adapter");
  return wrap_adapter(info.Env(), std::move(a), mh->m);
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
    for (int p = 0; p < (int)a.mods[l].size(); p++)
      if (a.mods[l][p]) mods.Set(k++, "layers." + std::to_string(l) + "." + module_path(p, a.gpt2));
  o.Set("modules", mods);
  return o;
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
  bool found = false;
  for_each_lora_tensor(*h->a, [&](int l, int p, bool isA, std::vector<float>& dst) {
    if (found || lora_key(l, p, isA, h->a->gpt2) != key) return;
    if (v.ElementLength() != dst.size())
      usage("adapterSetTensor: '" + key + "' holds " + std::to_string(dst.size()) + " values, got " +
            std::to_string(v.ElementLength()));
    std::copy(v.Data(), v.Data() + dst.size(), dst.begin());
    found = true;
  });
  if (!found) throw EngineError("E_ADAPTER", "adapterSetTensor: the adapter has no tensor '" + key + "'");
  return info.Env().Undefined();
}

} // namespace

void register_model_handles(Napi::Env env, Napi::Object exports) {
  export_fn<LoadModel>(env, exports, "loadModel");
  export_fn<ModelInfo>(env, exports, "modelInfo");
  export_fn<LoadAdapter>(env, exports, "loadAdapter");
  export_fn<InitAdapter>(env, exports, "initAdapter");
  export_fn<SaveAdapter>(env, exports, "saveAdapter");
  export_fn<AdapterInfo>(env, exports, "adapterInfo");
  export_fn<AdapterTensors>(env, exports, "adapterTensors");
  export_fn<AdapterSetTensor>(env, exports, "adapterSetTensor");
}

} // namespace peft::binding
