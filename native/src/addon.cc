// Node binding of the native engine: translates JS calls to the C++ engine and errors to JS exceptions with a `code`.
#include <napi.h>

static Napi::Value EngineVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), "0.1.0");
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("engineVersion", Napi::Function::New(env, EngineVersion));
  return exports;
}

NODE_API_MODULE(peft_engine, Init)
