// JS bindings of the trainer's checkpoint: the AdamW state (exp_avg / exp_avg_sq per LoRA tensor, step count) saved
// to and loaded from a safetensors file.
#include <napi.h>
#include <string>
#include <vector>
#include "adapter_io.h"
#include "binding/args.h"
#include "binding/handles.h"
#include "binding/optimizer_state.h"
#include "binding/register.h"
#include "error.h"
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
  write_optimizer_state(path, ts, h->t->steps_done());
  return info.Env().Undefined();
}

Napi::Value TrainerLoadState(const Napi::CallbackInfo& info) {
  TrainerHandle* h = get_handle<TrainerHandle>(info[0], "trainer");
  if (h->busy) usage("cannot load the optimizer state while the trainer runs");
  std::string path = get_str(info, 1, "path");
  OptimizerStateReader f(path);
  Adapter& m = h->t->exp_avg();
  Adapter& v = h->t->exp_avg_sq();
  for_each_lora_tensor(m, [&](int l, int p, bool isA, std::vector<float>& mm) {
    const std::string k = lora_key(l, p, isA, m.gpt2);
    f.read(k, false, mm);
    f.read(k, true, lora_tensor(v, l, p, isA));
  });
  h->t->set_steps_done(f.finish());
  return info.Env().Undefined();
}

} // namespace

void register_trainer_checkpoint(Napi::Env env, Napi::Object exports) {
  export_fn<TrainerSaveState>(env, exports, "trainerSaveState");
  export_fn<TrainerLoadState>(env, exports, "trainerLoadState");
}

} // namespace peft::binding
