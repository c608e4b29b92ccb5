// Per-op-family step timing (see profile.h): plain counters on the orchestrating thread, scopes nested inside a
// parallel region are ignored so nothing is counted twice.
#include "profile.h"
#include <atomic>
#include "kernels/threads_internal.h"

namespace peft::kern {
void pool_counters_read(double* busy, double* wait, long* regions);
void pool_counters_reset();
} // namespace peft::kern

namespace peft::prof {

const char* const FAMILY_NAMES[N_FAMILY] = {"matmul_frozen_fwd", "matmul_frozen_bwd", "lora", "attention",
                                            "elementwise", "lmhead_ce", "optimizer"};

namespace {
Counters g_counters;
std::atomic<bool> g_enabled{true};
} // namespace

Counters& counters() { return g_counters; }

void reset() {
  g_counters = Counters{};
  kern::pool_counters_reset();
}

PoolCounters pool_counters() {
  PoolCounters p{};
  kern::pool_counters_read(&p.worker_busy_sec, &p.caller_wait_sec, &p.regions);
  return p;
}

bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on) { g_enabled.store(on); }

Scope::Scope(Family f) : f_(f), on_(enabled() && !kern::in_parallel_region()) {
  if (on_) t0_ = std::chrono::steady_clock::now();
}

Scope::~Scope() {
  if (on_) g_counters.sec[f_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

} // namespace peft::prof
