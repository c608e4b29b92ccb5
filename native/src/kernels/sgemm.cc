// kern::sgemm: OpenBLAS cblas_sgemm (single-threaded, one slab of C per pool thread) when the build found it, the
// built-in blocked sgemm otherwise (parallel over the pool, serial inside a parallel_for). On CPUs where OpenBLAS
// only has an AVX2 kernel (e.g. 0.3.21 on Zen 4/5 picks "Haswell") while the active kernel ISA is AVX-512, the
// built-in one is used (measured ~2x faster there: bench/kernels.bench.ts, sgemm vs sgemm_builtin). Where OpenBLAS
// runs its AVX-512 kernel on the avx512 ISA and the build has oneDNN, the products with an untransposed A go to
// oneDNN by the fixed rule of sgemm_onednn.cc (1.1-1.5x there: bench/sgemm-route.bench.ts), the rest to OpenBLAS.
// PEFT_SGEMM=openblas|builtin|onednn overrides the choice (onednn: that rule wherever oneDNN is linked).
// kern::gemm_narrow: the narrow products with B read in place (simd.h), for callers that take them (attention).
#include <cctype>
#include <cstdlib>
#include <string>
#include "kernels/kernels.h"
#include "kernels/isa.h"
#include "kernels/simd.h"
#include "kernels/sgemm_builtin.h"
#include "kernels/sgemm_onednn.h"
#include "kernels/sgemm_route.h"
#include "kernels/threads_internal.h"
#ifdef PEFT_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace peft::kern {

namespace {

enum class Env { ByCpu, OpenBlas, Builtin, Onednn };

Env env_choice() {
  static const Env env = [] {
    const char* e = std::getenv("PEFT_SGEMM");
    const std::string v = e ? e : "";
    if (v == "openblas") return Env::OpenBlas;
    if (v == "builtin") return Env::Builtin;
    if (v == "onednn") return Env::Onednn;
    return Env::ByCpu;
  }();
  return env;
}

#ifdef PEFT_HAVE_OPENBLAS
bool openblas_avx512() { // OpenBLAS picked one of its AVX-512 kernels for this CPU
  static const bool yes = [] {
    std::string core = openblas_get_corename();
    for (auto& c : core) c = (char)std::tolower((unsigned char)c);
    return core.find("skylakex") != std::string::npos || core.find("cooperlake") != std::string::npos ||
           core.find("sapphire") != std::string::npos;
  }();
  return yes;
}
#endif

} // namespace

bool sgemm_uses_openblas() {
#ifdef PEFT_HAVE_OPENBLAS
  const Env env = env_choice();
  if (env == Env::OpenBlas || env == Env::Onednn) return true; // onednn: OpenBLAS keeps the transposed-A products
  if (env == Env::Builtin) return false;
  return active_isa() != Isa::Avx512 || openblas_avx512();
#else
  return false;
#endif
}

bool sgemm_uses_onednn() {
  if (!sgemm_onednn_linked()) return false;
  const Env env = env_choice();
  if (env != Env::ByCpu) return env == Env::Onednn;
#ifdef PEFT_HAVE_OPENBLAS
  return active_isa() == Isa::Avx512 && openblas_avx512(); // the CPU class measured (Intel AVX-512 cores)
#else
  return false;
#endif
}

namespace {

enum class Lib { Onednn, OpenBlas, Builtin };

// Where one call runs; `r` is the oneDNN routine when Onednn.
Lib pick(bool tA, bool tB, int N, int K, float alpha, OnednnSgemm& r) {
  r = OnednnSgemm::None;
  if (K <= 0) return Lib::Builtin; // C = beta C
  if (alpha != 0.f && sgemm_uses_onednn()) {
    r = sgemm_onednn_route(tA, tB, K);
    if (r != OnednnSgemm::None) return Lib::Onednn;
  }
#ifdef PEFT_HAVE_OPENBLAS
  // Narrow C (N < 64, e.g. the LoRA products x A^T, dy B, dy^T u with r = 16): the built-in kernel's 32-wide
  // panels waste half their lanes and its A packing is not amortised; OpenBLAS measured 2-6x faster there.
  if (sgemm_uses_openblas() || N < 64) return Lib::OpenBlas;
#else
  (void)N;
#endif
  return Lib::Builtin;
}

} // namespace

std::string sgemm_route(bool tA, bool tB, int N, int K, float alpha) {
  OnednnSgemm r;
  switch (pick(tA, tB, N, K, alpha, r)) {
    case Lib::Onednn: return sgemm_onednn_route_name(r);
    case Lib::OpenBlas: return "openblas";
    default: return "builtin";
  }
}

void sgemm(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  OnednnSgemm r;
  const Lib lib = pick(tA, tB, N, K, alpha, r);
  if (lib == Lib::Builtin)
    return sgemm_builtin(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, !in_parallel_region());
  threads(); // makes sure the pool exists, which also set OpenBLAS to one thread
  parallel_gemm_blocks(M, N, K, [&](int i0, int i1, int j0, int j1) {
    const float* a = tA ? A + i0 : A + (size_t)i0 * lda;
    const float* b = tB ? B + (size_t)j0 * ldb : B + j0;
    float* c = C + (size_t)i0 * ldc + j0;
    if (lib == Lib::Onednn) return sgemm_onednn(r, tA, tB, i1 - i0, j1 - j0, K, alpha, a, lda, b, ldb, beta, c, ldc);
#ifdef PEFT_HAVE_OPENBLAS
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, i1 - i0, j1 - j0, K,
                alpha, a, lda, b, ldb, beta, c, ldc);
#endif
  });
}

bool gemm_narrow(bool transA, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                 bool accumulate, float* C, int ldc) {
  const SimdKernels& k = simd();
  if (!k.gemm_narrow || N % k.narrow_nr != 0 || M <= 0 || K <= 0) return false;
  k.gemm_narrow(transA, M, N, K, alpha, A, lda, B, ldb, accumulate, C, ldc);
  return true;
}

} // namespace peft::kern
