// oneDNN fp32 GEMM behind kern::sgemm on CPUs where it beats OpenBLAS (sgemm.cc decides where), one call on the
// calling thread: the pool splits C into slabs as for OpenBLAS, so oneDNN's OpenMP team is set to 1 per thread.
// The rule (sgemm_onednn_route), from bench/sgemm-route.bench.ts on the training step's own calls (SmolLM2-135M
// shape, seq 512 x batch 4, every call a 1024-row share or a 64-row lm_head chunk on one pool thread), Ice Lake,
// OpenBLAS 0.3.21 (SkylakeX) vs oneDNN 2.6.3, thread CPU time, min of 7 interleaved rounds:
//  - x W^T (A untransposed, B transposed) with K >= 64: the matmul primitive (brgemm) wins everywhere measured:
//    lm_head 64 x 49152 x 576 1.38x, projections 1024 x {192, 576, 1536} x {576, 1536} 1.09-1.40x, attention
//    QK^T 128 x {128..512} x 64 1.23-1.47x, LoRA x A^T 1024 x 16 x K 1.14-1.26x; dnnl_sgemm loses the lm_head (0.77x);
//  - the other untransposed-A products (dy W, P V, LoRA up-products with K = 16): dnnl_sgemm, 0.95-1.24x (the lm_head
//    input gradient 64 x 576 x 49152 1.18x, 1024 x 1536 x 576 1.14x, 1024 x 576 x {576, 1536} 0.95x); the matmul
//    primitive loses these (0.61-0.76x);
//  - transposed A (weight gradients dy^T x, attention dS^T Q): OpenBLAS (oneDNN 0.87-0.95x, matmul far slower).
// A fixed rule rather than a timing at first use: the same call always takes the same routine, so runs and resumed
// checkpoints give the same bits on a machine whatever its load.
#include "kernels/sgemm_onednn.h"
#include <string>
#include "error.h"
#ifdef PEFT_HAVE_DNNL
#include "kernels/dnnl_matmul.h"
#endif

namespace peft::kern {

bool sgemm_onednn_linked() {
#ifdef PEFT_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

OnednnSgemm sgemm_onednn_route(bool tA, bool tB, int K) {
  if (tA) return OnednnSgemm::None;
  return tB && K >= 64 ? OnednnSgemm::Matmul : OnednnSgemm::Gemm;
}

const char* sgemm_onednn_route_name(OnednnSgemm r) {
  switch (r) {
    case OnednnSgemm::Matmul: return "onednn-matmul";
    case OnednnSgemm::Gemm: return "onednn-gemm";
    default: return "none";
  }
}

#ifdef PEFT_HAVE_DNNL
namespace {

void run_gemm(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
              float beta, float* C, int ldc) {
  const dnnl_status_t st = dnnl_sgemm(tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success)
    throw EngineError("E_ENGINE", "oneDNN sgemm failed (status " + std::to_string((int)st) + ") on " +
                                      std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K));
}

} // namespace
#endif

void sgemm_onednn(OnednnSgemm route, bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
  if (route == OnednnSgemm::None) throw EngineError("E_ENGINE", "sgemm_onednn: no oneDNN routine for this call");
#ifdef PEFT_HAVE_DNNL
  dnnl_one_omp_thread();
  if (route == OnednnSgemm::Gemm) return run_gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  auto p = dnnl_matmul(DnnlInput::F32, tA, tB, M, N, K, alpha, lda, ldb, beta, ldc);
  if (!p->usable) return run_gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  dnnl_matmul_run(*p, A, B, C, "fp32");
#else
  (void)tA, (void)tB, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
  throw EngineError("E_ENGINE", "sgemm_onednn: this build has no oneDNN (install libdnnl-dev and rebuild)");
#endif
}

std::string sgemm_onednn_impl(bool tA, bool tB, int M, int N, int K, float alpha, int lda, int ldb, float beta,
                              int ldc) {
#ifdef PEFT_HAVE_DNNL
  return dnnl_matmul(DnnlInput::F32, tA, tB, M, N, K, alpha, lda, ldb, beta, ldc)->impl;
#else
  (void)tA, (void)tB, (void)M, (void)N, (void)K, (void)alpha, (void)lda, (void)ldb, (void)beta, (void)ldc;
  return "none";
#endif
}

} // namespace peft::kern
