// Node binding of the native engine (peft_engine.node, what src/engine loads): translates JS calls to the C++ engine
// and errors to JS exceptions with a `code`. Tests' raw kernel / op bindings live in the test addon (test_addon/).
#include <napi.h>
#include "binding/register.h" // the engine core's bindings, one file per concern under binding/

#ifndef PEFT_ENGINE_VERSION
#error "PEFT_ENGINE_VERSION is passed by binding.gyp from native/engine-version.json (build with node native/build.mjs)"
#endif

// The engine version compiled in from native/engine-version.json (src/engine/version.ts reads the same file).
static Napi::Value EngineVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), PEFT_ENGINE_VERSION);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("engineVersion", Napi::Function::New(env, EngineVersion));
  Napi::Object kernels = Napi::Object::New(env);
  peft::binding::register_kernel_info(env, kernels);
  exports.Set("kernels", kernels);
  peft::binding::register_model_files(env, exports);
  peft::binding::register_model_handles(env, exports);
  peft::binding::register_inference(env, exports);
  peft::binding::register_train(env, exports);
  peft::binding::register_trainer_checkpoint(env, exports);
  peft::binding::register_engine_info(env, exports);
  peft::binding::register_decode(env, exports);
  peft::binding::register_t5(env, exports);
  return exports;
}

NODE_API_MODULE(peft_engine, Init)
