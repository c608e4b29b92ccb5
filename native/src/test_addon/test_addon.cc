// The test addon (peft_engine_test.node): raw kernels and fused ops on typed arrays for tests and benchmarks, built
// beside the production addon from the same engine library and never loaded by src/.
#include <napi.h>
#include "binding/register.h"

namespace peft {
void register_kernel_test_bindings(Napi::Env env, Napi::Object kernels); // kernels_binding.cc
void register_ops_bindings(Napi::Env env, Napi::Object exports);         // ops_binding.cc
void register_simd_test_bindings(Napi::Env env, Napi::Object kernels);   // simd_binding.cc
void register_int8_test_bindings(Napi::Env env, Napi::Object kernels);   // int8_binding.cc
} // namespace peft

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object kernels = Napi::Object::New(env);
  peft::binding::register_kernel_info(env, kernels);
  peft::register_kernel_test_bindings(env, kernels);
  peft::register_simd_test_bindings(env, kernels);
  peft::register_int8_test_bindings(env, kernels);
  exports.Set("kernels", kernels);
  peft::register_ops_bindings(env, exports);
  return exports;
}

NODE_API_MODULE(peft_engine_test, Init)
