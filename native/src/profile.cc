// Per-op-family step timing (see profile.h): plain counters on the orchestrating thread, scopes nested inside a
// parallel region are ignored so nothing is counted twice.
#include "profile.h"
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include "kernels/threads_internal.h"

namespace peft::kern {
void pool_counters_read(double* busy, double* wait, long* regions);
void pool_counters_reset();
} // namespace peft::kern

namespace peft::prof {

const char* const FAMILY_NAMES[N_FAMILY] = {
#define PEFT_PROFILE_NAME(name) #name,
    PEFT_PROFILE_FAMILIES(PEFT_PROFILE_NAME)
#undef PEFT_PROFILE_NAME
};

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

// PEFT_PROFILE_CLOCK=thread-cpu counts the orchestrating thread's CPU time instead of wall time: with one engine
// thread (setThreads(1)) that is the work itself, unaffected by other processes sharing the cores, which makes
// single-thread A/B comparisons on a busy machine meaningful.
static bool thread_cpu_clock() {
  static const bool on = [] {
    const char* e = std::getenv("PEFT_PROFILE_CLOCK");
    return e && std::strcmp(e, "thread-cpu") == 0;
  }();
  return on;
}

double now_seconds() {
  if (thread_cpu_clock()) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static long regions_now() {
  double b, w;
  long r;
  kern::pool_counters_read(&b, &w, &r);
  return r;
}

Scope::Scope(Family f) : f_(f), on_(enabled() && !kern::in_parallel_region()) {
  if (on_) {
    t0_ = now_seconds();
    r0_ = regions_now();
  }
}

Scope::~Scope() {
  if (on_) {
    g_counters.sec[f_] += now_seconds() - t0_;
    const long d = regions_now() - r0_; // negative when reset() ran inside the scope: not counted
    if (d > 0) g_counters.regions[f_] += d;
  }
}

} // namespace peft::prof
