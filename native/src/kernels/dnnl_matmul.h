// One cache of oneDNN matmul primitives, shared by kern::gemm_bf16 (bf16 inputs) and the fp32 route of kern::sgemm
// (sgemm_onednn.cc): each primitive made once per call shape and run single-threaded on the calling thread, with
// that thread's stream and scratchpad (the engine's pool splits C into slabs; oneDNN's OpenMP team is set to 1).
#pragma once
#ifdef PEFT_HAVE_DNNL
#include <cstddef>
#include <memory>
#include <string>
#include <oneapi/dnnl/dnnl.hpp>

namespace peft::kern {

enum class DnnlInput { F32, BF16 };

struct DnnlMatmul {
  dnnl::matmul prim;
  dnnl::memory::desc a, b, c, scratch;
  std::string impl;    // oneDNN's implementation name, e.g. "brg:avx512_core_bf16"; "refused: ..." when it refused
  bool usable = false; // false: oneDNN offered only its reference kernel or refused (callers fall back)
};

// C [M, N] fp32 = alpha op(A) op(B) + beta C for inputs of type `in`: transposes as strides, alpha as an output scale,
// beta as a sum post-op, fp32 inputs in strict fp32 math; created once per (input type, transposes, shape, leading
// dimensions, alpha, beta) and cached, at most 512 at a time (past that the cache starts over; a caller keeps its
// primitive through the shared_ptr).
std::shared_ptr<const DnnlMatmul> dnnl_matmul(DnnlInput in, bool tA, bool tB, int M, int N, int K, float alpha, int lda,
                                              int ldb, float beta, int ldc);
// Runs p on this thread only (OpenMP team of 1); A and B point at data of p's input type. Throws EngineError
// E_ENGINE ("oneDNN <what> matmul failed: ...") when oneDNN fails.
void dnnl_matmul_run(const DnnlMatmul& p, const void* A, const void* B, float* C, const char* what);
// Cached primitives of one input type.
size_t dnnl_cached_matmuls(DnnlInput in);
// Sets this thread's OpenMP team to 1 (OpenMP ICVs are per thread for threads OpenMP did not start).
void dnnl_one_omp_thread();

} // namespace peft::kern
#endif
