// Readers of adapter lists and tensors shared by the engine bindings (see handles.h).
#include "binding/handles.h"
#include "adapter_io.h"

namespace peft::binding {

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

Napi::Object adapter_tensors(Napi::Env env, const Adapter& a) {
  Napi::Object o = Napi::Object::New(env);
  for_each_lora_tensor(a, [&](int l, int p, bool isA, const std::vector<float>& v) {
    Napi::Float32Array t = Napi::Float32Array::New(env, v.size());
    std::copy(v.begin(), v.end(), t.Data());
    o.Set(lora_key(l, p, isA, a.gpt2), t);
  });
  return o;
}

} // namespace peft::binding
