// Per-op-family wall-clock accounting of training steps (matmuls, LoRA, attention, element-wise, lm_head+CE,
// optimizer) measured on the orchestrating thread, plus the thread pool's own counters (worker busy time, time the
// caller waits for workers): where a step's time goes, exposed through the engine API and printed by the bench.
#pragma once
#include <chrono>
#include <cstdint>

namespace peft::prof {

enum Family {
  MM_FROZEN_FWD,   // frozen base projections, forward (incl. activation bf16 conversion, NF4 tile dequant)
  MM_FROZEN_BWD,   // frozen base projections, input gradient
  LORA,            // LoRA A/B matmuls forward and backward (+ dropout)
  ATTENTION,       // QK^T, softmax, PV and their backward
  ELEMENTWISE,     // RMSNorm, RoPE, SwiGLU, residual adds, memsets, embedding gather
  LMHEAD_CE,       // lm_head matmul + cross-entropy forward/backward (chunked)
  OPTIMIZER,       // gradient zeroing, norm, clipping, AdamW
  N_FAMILY
};
extern const char* const FAMILY_NAMES[N_FAMILY];

struct Counters {
  double sec[N_FAMILY] = {};
  double step_sec = 0;   // wall time inside Trainer::step / accumulate
  long steps = 0;
};
Counters& counters();
void reset();          // also resets the pool counters

// Pool counters (kernels/threads.cc): seconds workers spent running chunks, seconds the caller waited for them
// after finishing its own chunk, and the number of parallel regions dispatched.
struct PoolCounters {
  double worker_busy_sec, caller_wait_sec;
  long regions;
};
PoolCounters pool_counters();

// Seconds on the profile's clock: wall (steady) by default, the calling thread's CPU time with
// PEFT_PROFILE_CLOCK=thread-cpu.
double now_seconds();

bool enabled();
void set_enabled(bool on);

// RAII: adds the scope's wall time to a family (only on the thread that is not inside a parallel region).
class Scope {
 public:
  explicit Scope(Family f);
  ~Scope();
 private:
  Family f_;
  bool on_;
  double t0_;
};

} // namespace peft::prof
