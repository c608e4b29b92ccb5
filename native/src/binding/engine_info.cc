// JS bindings of engine introspection and measurement: the per-op-family step profile, build capabilities, the
// thread count, and the sgemm rate the benchmark compares training against.
#include <napi.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>
#include "binding/args.h"
#include "binding/register.h"
#include "kernels/kernels.h"
#include "profile.h"

namespace peft::binding {
namespace {

// Per-op-family seconds accumulated over training steps since the last reset, and the pool's counters.
// engineProfile({reset: true}) returns the totals and zeroes them.
Napi::Value EngineProfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool reset = info.Length() > 0 && info[0].IsObject() && bool_or(info[0].As<Napi::Object>(), "reset", false);
  const prof::Counters& c = prof::counters();
  const prof::PoolCounters p = prof::pool_counters();
  Napi::Object fam = Napi::Object::New(env), famRegions = Napi::Object::New(env);
  double sum = 0;
  for (int f = 0; f < prof::N_FAMILY; f++) {
    fam.Set(prof::FAMILY_NAMES[f], c.sec[f]);
    famRegions.Set(prof::FAMILY_NAMES[f], (double)c.regions[f]);
    sum += c.sec[f];
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("families", fam);
  o.Set("steps", (double)c.steps);
  o.Set("stepSeconds", c.step_sec);
  o.Set("unaccounted", c.step_sec > 0 ? c.step_sec - sum : 0.0);
  o.Set("poolWorkerBusySeconds", p.worker_busy_sec);
  o.Set("poolCallerWaitSeconds", p.caller_wait_sec);
  o.Set("poolRegions", (double)p.regions);
  o.Set("familyRegions", famRegions);
  if (reset) prof::reset();
  return o;
}

// What this build computes with: thread count, native bf16 matmul, the kernels' description.
Napi::Value EngineCaps(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("threads", kern::threads());
  o.Set("bf16Native", kern::bf16_native());
  o.Set("backend", kern::backend_info());
  return o;
}

// Measures sgemm GFLOPS on an M x N x K product (best of `iters`), for the benchmark's in-run reference rate.
Napi::Value BenchSgemm(const Napi::CallbackInfo& info) {
  Napi::Object o = opt_obj(info, 0);
  const int M = int_or(o, "M", 2048, 1, 1 << 16), N = int_or(o, "N", 1536, 1, 1 << 16),
            K = int_or(o, "K", 576, 1, 1 << 16);
  const int iters = int_or(o, "iters", 3, 1, 1000);
  const bool bf16 = bool_or(o, "bf16", false);
  std::vector<float> A((size_t)M * K, 0.01f), B((size_t)N * K, 0.02f), C((size_t)M * N);
  std::vector<uint16_t> A16((size_t)M * K), B16((size_t)N * K);
  kern::f32_to_bf16(A.data(), A16.data(), A.size());
  kern::f32_to_bf16(B.data(), B16.data(), B.size());
  double best = 1e30;
  for (int i = 0; i < iters; i++) {
    auto t0 = std::chrono::steady_clock::now();
    if (bf16)
      kern::gemm_bf16(false, true, M, N, K, 1.f, A16.data(), K, B16.data(), K, 0.f, C.data(), N);
    else
      kern::sgemm(false, true, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return Napi::Number::New(info.Env(), 2.0 * M * N * K / best / 1e9);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) usage("setThreads(n): n must be a number (0 = all cores)");
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 0 || n > 1024) usage("setThreads(n): n must be in [0, 1024]");
  kern::set_threads(n);
  return Napi::Number::New(info.Env(), kern::threads());
}

} // namespace

void register_engine_info(Napi::Env env, Napi::Object exports) {
  export_fn<EngineProfile>(env, exports, "engineProfile");
  export_fn<EngineCaps>(env, exports, "engineCaps");
  export_fn<BenchSgemm>(env, exports, "benchSgemm");
  export_fn<SetThreads>(env, exports, "setThreads");
}

} // namespace peft::binding
