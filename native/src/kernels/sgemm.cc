// kern::sgemm: OpenBLAS cblas_sgemm when the build found it, the built-in blocked sgemm otherwise. Inside a
// parallel_for (a pool worker already owns a core) it runs the built-in kernel serially so threads never nest.
#include "kernels/kernels.h"
#include "kernels/sgemm_builtin.h"
#include "kernels/threads_internal.h"
#ifdef PEFT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace peft::kern {

void sgemm(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (in_parallel_region()) {
    sgemm_builtin(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false);
    return;
  }
#ifdef PEFT_HAVE_OPENBLAS
  if (K > 0) {
    threads(); // makes sure the pool exists, which also sized OpenBLAS's threads
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
    return;
  }
#endif
  sgemm_builtin(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, true);
}

} // namespace peft::kern
