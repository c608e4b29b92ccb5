// JS bindings of the trainer's checkpoint: the AdamW state (exp_avg / exp_avg_sq per LoRA tensor, step count) saved
// to and loaded from a safetensors file.
#include <napi.h>
#include <string>
#include <vector>
#include "adapter_io.h"
#include "binding/args.h"
#include "binding/handles.h"
#include "binding/register.h"
#include "error.h"
#include "model/safetensors.h"
#include "train.h"

namespace peft::binding {
namespace {

// Optimizer state: exp_avg / exp_avg_sq per LoRA tensor (PEFT key + suffix), step count in the metadata.
Napi::Value TrainerSaveState(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  if (h->busy) usage("cannot save the optimizer state while the trainer runs");
  std::string path = get_str(info, 1, "path");
  std::vector<NamedTensor> ts;
  Adapter& m = h->t->exp_avg();
  Adapter& v = h->t->exp_avg_sq();
  const int64_t r = m.r;
  for_each_lora_tensor(m, [&](int l, int p, bool isA, const std::vector<float>& mm) {
    const std::string k = lora_key(l, p, isA, m.gpt2);
    const std::vector<float>& vv = lora_tensor(v, l, p, isA);
    std::vector<int64_t> shape =
        isA ? std::vector<int64_t>{r, (int64_t)(mm.size() / r)} : std::vector<int64_t>{(int64_t)(mm.size() / r), r};
    ts.push_back({k + ".exp_avg", shape, mm.data()});
    ts.push_back({k + ".exp_avg_sq", shape, vv.data()});
  });
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
  for_each_lora_tensor(m, [&](int l, int p, bool isA, std::vector<float>& mm) {
    for (int which = 0; which < 2; which++) {
      const std::string k = lora_key(l, p, isA, m.gpt2) + (which ? ".exp_avg_sq" : ".exp_avg");
      auto it = f.tensors().find(k);
      std::vector<float>& dst = which ? lora_tensor(v, l, p, isA) : mm;
      if (it == f.tensors().end() || (size_t)it->second.numel() != dst.size())
        throw EngineError("E_ADAPTER", path + ": optimizer tensor '" + k + "' is missing or has the wrong size");
      it->second.to_f32(dst.data());
      used++;
    }
  });
  if (used != f.tensors().size())
    throw EngineError("E_ADAPTER", path + ": holds optimizer tensors for modules the trainer does not have");
  auto st = f.metadata().find("step");
  if (st == f.metadata().end()) throw EngineError("E_ADAPTER", path + ": metadata has no 'step'");
  h->t->set_steps_done(std::stol(st->second));
  return info.Env().Undefined();
}

} // namespace

void register_trainer_checkpoint(Napi::Env env, Napi::Object exports) {
  export_fn<TrainerSaveState>(env, exports, "trainerSaveState");
  export_fn<TrainerLoadState>(env, exports, "trainerLoadState");
}

} // namespace peft::binding
