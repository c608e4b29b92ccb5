// The kernel ISA choice (and the per-ISA kernel tables of simd.h): best variant the CPU and the build both have, or PEFT_ISA=avx512|avx2|scalar (checked: a
// variant the CPU cannot run or the build lacks is refused with an error, never run).
#include "kernels/isa.h"
#include <atomic>
#include <cstdlib>
#include <mutex>
#include "error.h"
#include "kernels/gemv_variants.h"
#include "kernels/simd.h"

namespace peft::kern {

namespace {

std::atomic<int> g_isa{-1};
std::mutex g_mu;

Isa parse(const std::string& name, const char* where) {
  if (name == "avx512") return Isa::Avx512;
  if (name == "avx2") return Isa::Avx2;
  if (name == "scalar") return Isa::Scalar;
  throw EngineError("E_ENGINE", std::string(where) + ": unknown kernel ISA '" + name + "'; use avx512, avx2 or scalar");
}

Isa checked(Isa isa, const char* where) {
  if (!isa_built(isa))
    throw EngineError("E_ENGINE", std::string(where) + ": this build of the engine has no " + isa_name(isa) +
                                      " kernels (" + isa_info_built() + "); choose one of those");
  if (!isa_cpu_supports(isa))
    throw EngineError("E_ENGINE", std::string(where) + ": this CPU cannot run the " + isa_name(isa) +
                                      " kernels (it has: " + isa_info_cpu() + "); choose one of those or unset it");
  return isa;
}

Isa best() {
  for (Isa i : {Isa::Avx512, Isa::Avx2})
    if (isa_built(i) && isa_cpu_supports(i)) return i;
  return Isa::Scalar;
}

} // namespace

std::string isa_info_built() {
  std::string s;
  for (Isa i : {Isa::Avx512, Isa::Avx2, Isa::Scalar})
    if (isa_built(i)) s += std::string(s.empty() ? "" : " ") + isa_name(i);
  return s;
}

std::string isa_info_cpu() {
  std::string s;
  for (Isa i : {Isa::Avx512, Isa::Avx2, Isa::Scalar})
    if (isa_cpu_supports(i)) s += std::string(s.empty() ? "" : " ") + isa_name(i);
  return s;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

bool isa_built(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return simd_avx512 && nf4_gemv_rows_avx512 && gemv_f32_rows_avx512;
    case Isa::Avx2: return simd_avx2 && nf4_gemv_rows_avx2 && gemv_f32_rows_avx2;
    default: return true;
  }
}

bool isa_cpu_supports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::Avx512:
      return isa_cpu_supports(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    default: return true;
  }
#else
  return isa == Isa::Scalar;
#endif
}

Isa active_isa() {
  int v = g_isa.load(std::memory_order_acquire);
  if (v >= 0) return (Isa)v;
  std::lock_guard<std::mutex> lock(g_mu);
  v = g_isa.load(std::memory_order_relaxed);
  if (v >= 0) return (Isa)v;
  const char* env = std::getenv("PEFT_ISA");
  const Isa isa = env && *env ? checked(parse(env, "PEFT_ISA"), "PEFT_ISA") : best();
  g_isa.store((int)isa, std::memory_order_release);
  return isa;
}

void set_isa(const std::string& name) {
  const Isa isa = checked(parse(name, "set_isa"), "set_isa");
  std::lock_guard<std::mutex> lock(g_mu);
  g_isa.store((int)isa, std::memory_order_release);
}

bool cpu_has_avx512bf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

bool cpu_has_avx512vnni() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

const SimdKernels& simd_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return *simd_avx512; // active_isa() / set_isa() only pick variants the build has
    case Isa::Avx2: return *simd_avx2;
    default: return *simd_scalar;
  }
}

const SimdKernels& simd() { return simd_for(active_isa()); }

std::string isa_info() {
  return std::string("isa=") + isa_name(active_isa()) + " (cpu: " + isa_info_cpu() + "; built: " + isa_info_built() +
         ")";
}

} // namespace peft::kern
