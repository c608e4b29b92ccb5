// Kernel-internal thread helpers: whether the calling thread is already inside a parallel_for (then GEMMs run
// single-threaded on it instead of spawning more threads on a machine that is already busy).
#pragma once

namespace peft::kern {
bool in_parallel_region();
} // namespace peft::kern
