// Node binding of the native engine (peft_engine.node, what src/engine loads): translates JS calls to the C++ engine
// and errors to JS exceptions with a `code`. Tests' raw kernel / op bindings live in the test addon (test_addon/).
#include <napi.h>
#include "binding/register.h" // the engine core's bindings, one file per concern under binding/

namespace peft {
void register_model_bindings(Napi::Env env, Napi::Object exports); // model/model_binding.cc (model files layer)
} // namespace peft

static Napi::Value EngineVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), "0.2.0");
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("engineVersion", Napi::Function::New(env, EngineVersion));
  Napi::Object kernels = Napi::Object::New(env);
  peft::binding::register_kernel_info(env, kernels);
  exports.Set("kernels", kernels);
  peft::register_model_bindings(env, exports);
  peft::binding::register_model_handles(env, exports);
  peft::binding::register_inference(env, exports);
  peft::binding::register_train(env, exports);
  peft::binding::register_trainer_checkpoint(env, exports);
  peft::binding::register_engine_info(env, exports);
  return exports;
}

NODE_API_MODULE(peft_engine, Init)
