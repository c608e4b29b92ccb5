// The engine's JS functions, one register_* per concern (called from addon.cc), and the guard every export runs under.
#pragma once
#include <napi.h>
#include "binding/napi_guard.h"

namespace peft::binding {

// Wraps a binding so EngineError and std exceptions become JS errors with a code (never an abort); see napi_guard.h.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return run_guarded(info, "E_INTERNAL", "", [&] { return F(info); });
}

// exports[name] = the guarded binding F.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
void export_fn(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, guarded<F>));
}

void register_model_files(Napi::Env env,
                          Napi::Object exports); // model_files.cc: inspect model dirs, configs, safetensors
void register_model_handles(Napi::Env env, Napi::Object exports); // model_handles.cc: load / inspect models, adapters
void register_inference(Napi::Env env, Napi::Object exports);     // inference_workers.cc: score, generate
void register_train(Napi::Env env, Napi::Object exports); // train_workers.cc: trainer create / run / eval / gradients
void register_trainer_checkpoint(Napi::Env env,
                                 Napi::Object exports);         // trainer_checkpoint.cc: optimizer state save / load
void register_engine_info(Napi::Env env, Napi::Object exports); // engine_info.cc: profile, caps, threads, sgemm bench
void register_decode(Napi::Env env, Napi::Object exports);      // decode_workers.cc: batched decoding (serve)
void register_kernel_info(Napi::Env env, Napi::Object kernels); // kernel_info.cc: kernels.backendInfo / gemmBf16Impl
void register_t5(Napi::Env env, Napi::Object exports);          // t5_bindings.cc: the T5 encoder-decoder (t5/)

} // namespace peft::binding
