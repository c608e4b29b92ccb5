// kern::sgemm: OpenBLAS cblas_sgemm (single-threaded, one slab of C per pool thread) when the build found it, the
// built-in blocked sgemm otherwise (parallel over the pool, serial inside a parallel_for). On CPUs where OpenBLAS
// only has an AVX2 kernel (e.g. 0.3.21 on Zen 4/5 picks "Haswell") while the active kernel ISA is AVX-512, the
// built-in one is used (measured ~2x faster there: bench/kernels.bench.ts, sgemm vs sgemm_builtin).
// PEFT_SGEMM=openblas|builtin overrides the choice.
#include <cctype>
#include <cstdlib>
#include <string>
#include "kernels/kernels.h"
#include "kernels/isa.h"
#include "kernels/sgemm_builtin.h"
#include "kernels/threads_internal.h"
#ifdef PEFT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace peft::kern {

bool sgemm_uses_openblas() {
#ifdef PEFT_HAVE_OPENBLAS
  static const int env = [] { // 1 openblas, 0 builtin, -1 by ISA
    const char* e = std::getenv("PEFT_SGEMM");
    if (e && std::string(e) == "openblas") return 1;
    if (e && std::string(e) == "builtin") return 0;
    return -1;
  }();
  static const bool openblas_avx512 = [] {
    std::string core = openblas_get_corename();
    for (auto& c : core) c = (char)std::tolower((unsigned char)c);
    return core.find("skylakex") != std::string::npos || core.find("cooperlake") != std::string::npos ||
           core.find("sapphire") != std::string::npos;
  }();
  if (env >= 0) return env == 1;
  return active_isa() != Isa::Avx512 || openblas_avx512;
#else
  return false;
#endif
}

void sgemm(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
#ifdef PEFT_HAVE_OPENBLAS
  // Narrow C (N < 64, e.g. the LoRA products x A^T, dy B, dy^T u with r = 16): the built-in kernel's 32-wide
  // panels waste half their lanes and its A packing is not amortised; OpenBLAS measured 2-6x faster there.
  const bool narrow = N < 64;
  if (K > 0 && (sgemm_uses_openblas() || narrow)) {
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
