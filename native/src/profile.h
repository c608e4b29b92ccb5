// Per-op-family wall-clock accounting of training steps (matmuls, LoRA, attention, element-wise, lm_head+CE,
// optimizer) measured on the orchestrating thread, plus the thread pool's own counters (worker busy time, time the
// caller waits for workers): where a step's time goes, exposed through the engine API and printed by the bench.
// Code marks a region with one line, `PEFT_PROFILE_SCOPE(family);`, which counts until the end of the enclosing block.
#pragma once
#include <chrono>
#include <cstdint>

// The op families, in the order the profile reports them (their names are the JS keys of engineProfile().families).
#define PEFT_PROFILE_FAMILIES(X)                                                                                   \
  X(matmul_frozen_fwd) /* frozen base projections, forward (incl. activation bf16 conversion, NF4 tile dequant; */ \
                       /* in fp32 also the trainable LoRA's forward, which runs in the product's pool region) */   \
  X(matmul_frozen_bwd) /* frozen base projections, input gradient (fp32: also the LoRA's du and dx += du A) */     \
  X(lora)              /* LoRA A/B matmuls forward and backward (+ dropout) */                                     \
  X(attention)         /* QK^T, softmax, PV and their backward */                                                  \
  X(elementwise)       /* RMSNorm, RoPE, SwiGLU, residual adds, memsets, embedding gather */                       \
  X(lmhead_ce)         /* lm_head matmul + cross-entropy forward/backward (chunked) */                             \
  X(optimizer)         /* gradient zeroing, norm, clipping, AdamW */                                               \
  X(sampling)          /* decoding: log-softmax, top logprobs, sampling of each row's next token */

// Counts the rest of the enclosing block in `family` (one of the names above), e.g. PEFT_PROFILE_SCOPE(attention);
#define PEFT_PROFILE_SCOPE(family) \
  ::peft::prof::Scope PEFT_PROFILE_CAT(peft_profile_scope_, __LINE__)(::peft::prof::family)
#define PEFT_PROFILE_CAT(a, b) PEFT_PROFILE_CAT2(a, b)
#define PEFT_PROFILE_CAT2(a, b) a##b

namespace peft::prof {

enum Family {
#define PEFT_PROFILE_ENUM(name) name,
  PEFT_PROFILE_FAMILIES(PEFT_PROFILE_ENUM)
#undef PEFT_PROFILE_ENUM
      N_FAMILY
};
extern const char* const FAMILY_NAMES[N_FAMILY];

struct Counters {
  double sec[N_FAMILY] = {};
  long regions[N_FAMILY] = {}; // pool regions dispatched inside each family's scopes
  double step_sec = 0;         // wall time inside Trainer::step / accumulate (or BatchDecoder::step)
  long steps = 0;
};
Counters& counters();
void reset(); // also resets the pool counters

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

// RAII: adds the scope's wall time to a family (only on the thread that is not inside a parallel region). Use
// PEFT_PROFILE_SCOPE(family) for a fixed family; construct one directly where the family is a parameter.
class Scope {
 public:
  explicit Scope(Family f);
  ~Scope();

 private:
  Family f_;
  bool on_;
  double t0_;
  long r0_;
};

} // namespace peft::prof
