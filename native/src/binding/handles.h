// The opaque model / adapter / trainer handles JS holds (N-API externals), and the readers that turn them back.
#pragma once
#include <napi.h>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "binding/args.h"
#include "llama.h"
#include "train.h"

namespace peft::binding {

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

template <class H>
H* get_handle(const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) usage(std::string("expected a ") + what + " handle");
  Handle* h = v.As<Napi::External<Handle>>().Data();
  H* r = dynamic_cast<H*>(h);
  if (!r) usage(std::string("expected a ") + what + " handle, got another kind of handle");
  return r;
}
// Hands a new handle to JS, which owns it from then on (deleted by the garbage collector).
template <class H>
Napi::Value wrap(Napi::Env env, H* h) {
  return Napi::External<Handle>::New(env, h, [](Napi::Env, Handle* p) { delete p; });
}

// A new adapter handle for JS (a shaped for model m).
inline Napi::Value wrap_adapter(Napi::Env env, std::shared_ptr<Adapter> a, std::shared_ptr<LlamaModel> m) {
  auto* h = new AdapterHandle();
  h->a = std::move(a);
  h->m = std::move(m);
  return wrap(env, h);
}

// fn(layer, proj, isA, values) over every LoRA tensor of an adapter, in PEFT key order (per module: A, then B).
template <class A, class F>
void for_each_lora_tensor(A& a, F&& fn) {
  for (size_t l = 0; l < a.mods.size(); l++)
    for (int p = 0; p < (int)a.mods[l].size(); p++)
      if (auto* w = a.mods[l][p].get())
        for (int isA = 1; isA >= 0; isA--) fn((int)l, p, isA == 1, isA ? w->A : w->B);
}

// The A (isA) or B tensor of module (l, p) of an adapter that has it.
template <class A>
auto& lora_tensor(A& a, int l, int p, bool isA) {
  return isA ? a.mods[l][p]->A : a.mods[l][p]->B;
}

// [{adapter, weight}] -> frozen stack entries (effective scale = adapter scaling * weight)
std::vector<std::pair<std::shared_ptr<Adapter>, float>> adapter_list(const Napi::Value& v, const LlamaModel* m);

// An adapter's LoRA tensors as {PEFT key: Float32Array} (copies).
Napi::Object adapter_tensors(Napi::Env env, const Adapter& a);

} // namespace peft::binding
