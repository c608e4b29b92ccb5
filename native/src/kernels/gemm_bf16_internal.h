// Introspection of the bf16 GEMM path, for backend_info(), the bindings and the benchmark.
#pragma once
#include <cstddef>
#include <string>

namespace peft::kern {
std::string bf16_impl();         // oneDNN implementation chosen for a probe shape ("brg:avx512_core_bf16"), or "none"
std::string bf16_backend_name(); // "onednn-2.6.3/omp" or "none"
// The implementation gemm_bf16 uses for exactly this call shape (creates and caches the primitive).
std::string bf16_impl_for(bool tA, bool tB, int M, int N, int K, float alpha, int lda, int ldb, float beta, int ldc);
size_t bf16_cached_primitives(); // number of cached oneDNN matmul primitives
} // namespace peft::kern
