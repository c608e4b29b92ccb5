// Kernel-internal thread helpers: whether the calling thread is already inside a parallel_for (then GEMMs run
// single-threaded on it instead of spawning more threads on a machine that is already busy).
#pragma once
#include <functional>

namespace peft::kern {
bool in_parallel_region();
// Splits C[M,N] into one slab per thread (whole 16-row groups, or 16-column groups when M is small) and runs
// fn(i0, i1, j0, j1) for each on the pool; small products (M*N*K < 2^18) or nested calls run as one block.
void parallel_gemm_blocks(int M, int N, int K, const std::function<void(int, int, int, int)>& fn);
} // namespace peft::kern
