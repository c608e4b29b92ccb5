// oneDNN fp32 GEMM for kern::sgemm (same row-major contract), single-threaded on the calling thread, and the fixed
// rule saying which oneDNN routine a call shape takes (kernels/sgemm_onednn.cc has the measurements behind it).
#pragma once
#include <string>

namespace peft::kern {

enum class OnednnSgemm {
  None,   // transposed A (weight gradients dy^T x): OpenBLAS is faster, oneDNN not used
  Matmul, // x W^T with K >= 64: a cached oneDNN matmul primitive (brgemm / jit gemm)
  Gemm,   // the other untransposed-A products: oneDNN's BLAS-like dnnl_sgemm
};

bool sgemm_onednn_linked();                              // built with oneDNN (PEFT_HAVE_DNNL)
OnednnSgemm sgemm_onednn_route(bool tA, bool tB, int K); // the rule; depends on nothing else
const char* sgemm_onednn_route_name(OnednnSgemm r);      // "onednn-matmul", "onednn-gemm", "none"

// C = alpha op(A) op(B) + beta C through `route` (Matmul or Gemm; None is refused), on this thread only (its OpenMP
// team set to 1). K > 0. Throws EngineError E_ENGINE when oneDNN is not linked or fails.
void sgemm_onednn(OnednnSgemm route, bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc);

// oneDNN's implementation name for the matmul primitive of exactly this call (creates and caches it), e.g.
// "brg:avx512_core"; "none" without oneDNN.
std::string sgemm_onednn_impl(bool tA, bool tB, int M, int N, int K, float alpha, int lda, int ldb, float beta,
                              int ldc);

} // namespace peft::kern
