// kern::sgemm: OpenBLAS cblas_sgemm (single-threaded, one slab of C per pool thread) when the build found it, the
// built-in blocked sgemm otherwise (parallel over the pool, serial inside a parallel_for).
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
#ifdef PEFT_HAVE_OPENBLAS
  if (K > 0) {
    threads(); // makes sure the pool exists, which also set OpenBLAS to one thread
    parallel_gemm_blocks(M, N, K, [&](int i0, int i1, int j0, int j1) {
      const float* a = tA ? A + i0 : A + (size_t)i0 * lda;
      const float* b = tB ? B + (size_t)j0 * ldb : B + j0;
      cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, i1 - i0, j1 - j0, K,
                  alpha, a, lda, b, ldb, beta, C + (size_t)i0 * ldc + j0, ldc);
    });
    return;
  }
#endif
  sgemm_builtin(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, !in_parallel_region());
}

} // namespace peft::kern
