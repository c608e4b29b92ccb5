// Node binding of the native engine: translates JS calls to the C++ engine and errors to JS exceptions with a `code`.
#include <napi.h>

namespace peft {
// Each part of the engine registers its own JS functions (kept beside the code they expose).
void register_kernel_bindings(Napi::Env env, Napi::Object exports); // kernels/kernels_binding.cc
void register_model_bindings(Napi::Env env, Napi::Object exports);  // model/model_binding.cc
void register_ops_bindings(Napi::Env env, Napi::Object exports);    // ops/ops_binding.cc (fused ops, for tests)
} // namespace peft

#include "binding/register.h" // the engine core's bindings, one file per concern under binding/

static Napi::Value EngineVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), "0.2.0");
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("engineVersion", Napi::Function::New(env, EngineVersion));
  peft::register_kernel_bindings(env, exports);
  peft::register_model_bindings(env, exports);
  peft::binding::register_model_handles(env, exports);
  peft::binding::register_inference(env, exports);
  peft::binding::register_train(env, exports);
  peft::binding::register_trainer_checkpoint(env, exports);
  peft::binding::register_engine_info(env, exports);
  peft::register_ops_bindings(env, exports);
  return exports;
}

NODE_API_MODULE(peft_engine, Init)
