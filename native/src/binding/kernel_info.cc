// JS bindings of kernel introspection (exports.kernels in both addons): which sgemm / bf16 matmul libraries and
// implementations this build runs and with how many threads (`peftmake doctor`, logs, the kernel bench).
#include <napi.h>
#include "binding/kernel_args.h"
#include "binding/register.h"
#include "kernels/gemm_bf16_internal.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/sgemm_onednn.h"
#include "kernels/sgemm_route.h"

namespace peft::binding {
namespace {

using namespace peft::kern;

// kernels.gemmBf16Impl({...shape}): the implementation gemmBf16 uses for that call shape.
Napi::Value GemmBf16Impl(const Napi::CallbackInfo& info) {
  Napi::Object o = obj_arg(info, 0, "gemmBf16Impl");
  const GemmArgs g = gemm_args(o, "gemmBf16Impl");
  return Napi::String::New(info.Env(), bf16_impl_for(g.tA, g.tB, g.M, g.N, g.K, g.alpha, g.lda, g.ldb, g.beta, g.ldc));
}

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("isaCpu", isa_info_cpu());
  o.Set("isaBuilt", isa_info_built());
  try { // a bad PEFT_ISA is reported here (doctor shows it), and refused by every engine call that decodes
    o.Set("isa", isa_name(active_isa()));
  } catch (const EngineError& e) {
    o.Set("isaError", e.what());
    o.Set("backend", "unavailable: " + std::string(e.what()));
  }
  if (!o.Has("isaError")) o.Set("backend", backend_info());
  o.Set("threads", threads());
  o.Set("bf16Native", bf16_native());
  o.Set("bf16Impl", bf16_native() ? bf16_impl() : "fallback:f32-sgemm");
  o.Set("bf16Library", bf16_backend_name());
  o.Set("sgemmLibrary",
        std::string(sgemm_uses_onednn() ? "onednn+" : "") + (sgemm_uses_openblas() ? "openblas" : "builtin"));
  o.Set("onednnLinked", sgemm_onednn_linked());
#ifdef PEFT_HAVE_OPENBLAS
  o.Set("openblasLinked", true);
#else
  o.Set("openblasLinked", false);
#endif
  o.Set("cachedPrimitives", (double)bf16_cached_primitives());
  return o;
}

} // namespace

void register_kernel_info(Napi::Env env, Napi::Object kernels) {
  kernels.Set("backendInfo", Napi::Function::New(env, kernel_guarded<BackendInfo>));
  kernels.Set("gemmBf16Impl", Napi::Function::New(env, kernel_guarded<GemmBf16Impl>));
}

} // namespace peft::binding
