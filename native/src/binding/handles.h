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

// [{adapter, weight}] -> frozen stack entries (effective scale = adapter scaling * weight)
std::vector<std::pair<std::shared_ptr<Adapter>, float>> adapter_list(const Napi::Value& v, const LlamaModel* m);

// An adapter's LoRA tensors as {PEFT key: Float32Array} (copies).
Napi::Object adapter_tensors(Napi::Env env, const Adapter& a);

} // namespace peft::binding
