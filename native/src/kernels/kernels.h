// Compute kernels of the CPU backend: GEMM (fp32 and bf16-in/fp32-out), bf16 conversion, thread count,
// and the frozen-weight linear op (f32 / bf16 / NF4 storage) that every base projection goes through.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace peft::kern {

using bf16 = uint16_t; // raw bfloat16 bits

// Row-major GEMM: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
// A is stored [M,K] with row stride lda, or [K,M] when transA. B is stored [K,N] (ldb), or [N,K] when transB.
void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc);

// C[M,N] = alpha op(A) B (+ C when accumulate), B [K,N] row-major read in place, by the active ISA's narrow kernel
// (simd.h gemm_narrow: one fused multiply-add chain per element, the same bits on every ISA that has it), on the
// calling thread. False, with nothing done, where the ISA has none or N is not a multiple of its panel width.
bool gemm_narrow(bool transA, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                 bool accumulate, float* C, int ldc);

// Same contract with bf16 inputs and fp32 accumulation/output. Falls back to converting to fp32 and
// calling sgemm when no bf16 kernel is available (then bf16_native() is false).
void gemm_bf16(bool transA, bool transB, int M, int N, int K, float alpha, const bf16* A, int lda, const bf16* B,
               int ldb, float beta, float* C, int ldc);

// y[T, out] = x[T, in] W^T for a few input rows (decoding) and fp32 W [out, in]: dot products over W's rows split over
// the pool, W streamed once (sgemm would pack it first, twice the memory traffic of a decode step).
void gemv_rows_f32(const float* W, int out, int in, const float* x, int T, float* y);

void f32_to_bf16(const float* x, bf16* y, size_t n); // round to nearest even
void bf16_to_f32(const bf16* x, float* y, size_t n);

bool bf16_native();      // true when gemm_bf16 runs on real bf16 kernels (oneDNN AVX512-BF16 / AMX)
void set_threads(int n); // 0 = number of cores
int threads();
std::string backend_info(); // e.g. "sgemm=openblas-0.3.21 bf16=onednn-2.6.3 (brg:avx512_core_bf16) threads=2"

// Runs fn(begin, end) over [0, n) split into contiguous chunks on the engine's one thread pool (sized by
// set_threads). Deterministic partitioning for a given thread count. Nested calls run serially.
void parallel_for(int n, const std::function<void(int begin, int end)>& fn);
// The same over [0, n) in short runs of indices, each handed to whichever thread is free: for bodies whose
// results do not depend on which thread runs an index or in what order (the decode products: disjoint output rows,
// each row's value independent of the others), so a thread slowed by other work on its core (serve's event loop, a
// neighbour) leaves its share to the others instead of holding up the region.
void parallel_for_dynamic(int n, const std::function<void(int begin, int end)>& fn);

} // namespace peft::kern
