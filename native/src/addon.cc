// Node binding of the native engine: translates JS calls to the C++ engine and errors to JS exceptions with a `code`.
#include <napi.h>

namespace peft {
// Each part of the engine registers its own JS functions (kept beside the code they expose).
void register_kernel_bindings(Napi::Env env, Napi::Object exports); // kernels/kernels_binding.cc
void register_model_bindings(Napi::Env env, Napi::Object exports);  // model/model_binding.cc
void register_engine_bindings(Napi::Env env, Napi::Object exports); // engine_binding.cc
void register_ops_bindings(Napi::Env env, Napi::Object exports);    // ops/ops_binding.cc (fused ops, for tests)
void register_decode_bindings(Napi::Env env, Napi::Object exports); // decode/decode_binding.cc (batched decoding)
} // namespace peft

static Napi::Value EngineVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), "0.2.0");
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("engineVersion", Napi::Function::New(env, EngineVersion));
  peft::register_kernel_bindings(env, exports);
  peft::register_model_bindings(env, exports);
  peft::register_engine_bindings(env, exports);
  peft::register_ops_bindings(env, exports);
  peft::register_decode_bindings(env, exports);
  return exports;
}

NODE_API_MODULE(peft_engine, Init)
