// kern::gemm_bf16: bf16 inputs, fp32 accumulation and output. With oneDNN on a CPU that has AVX512-BF16 or AMX it
// runs a oneDNN matmul primitive from the cache it shares with sgemm's fp32 route (kernels/dnnl_matmul.h). Otherwise
// (no oneDNN, no bf16 ISA, or oneDNN offering only its reference kernel) the inputs are widened to fp32 and go
// through sgemm.
// oneDNN (Debian build) threads with OpenMP; we do not let it: C is split into one slab per pool thread and each slab
// runs a single-threaded primitive (OpenMP team of 1, set per calling thread), so the pool is the only thread set.
#include <string>
#include <vector>
#include "error.h"
#include "kernels/gemm_bf16_internal.h"
#include "kernels/isa.h"
#include "kernels/kernels.h"
#include "kernels/threads_internal.h"
#ifdef PEFT_HAVE_DNNL
#include "kernels/dnnl_matmul.h"
#endif

namespace peft::kern {

namespace {

// Widens the stored rectangle (rows x cols, row stride ld) to a compact fp32 matrix.
void widen(const bf16* src, int rows, int cols, int ld, float* dst) {
  for (int r = 0; r < rows; r++) bf16_to_f32(src + (size_t)r * ld, dst + (size_t)r * cols, (size_t)cols);
}

void gemm_bf16_fallback(bool tA, bool tB, int M, int N, int K, float alpha, const bf16* A, int lda, const bf16* B,
                        int ldb, float beta, float* C, int ldc) {
  const int ar = tA ? K : M, ac = tA ? M : K, br = tB ? N : K, bc = tB ? K : N;
  thread_local std::vector<float> a32, b32;
  if (a32.size() < (size_t)ar * ac) a32.resize((size_t)ar * ac);
  if (b32.size() < (size_t)br * bc) b32.resize((size_t)br * bc);
  widen(A, ar, ac, lda, a32.data());
  widen(B, br, bc, ldb, b32.data());
  sgemm(tA, tB, M, N, K, alpha, a32.data(), ac, b32.data(), bc, beta, C, ldc);
}

#ifdef PEFT_HAVE_DNNL
std::shared_ptr<const DnnlMatmul> get_prim(bool tA, bool tB, int M, int N, int K, float alpha, int lda, int ldb,
                                           float beta, int ldc) {
  return dnnl_matmul(DnnlInput::BF16, tA, tB, M, N, K, alpha, lda, ldb, beta, ldc);
}

bool probe_native(std::string& impl) {
  try {
    auto p = get_prim(false, true, 64, 64, 64, 1.f, 64, 64, 0.f, 64);
    impl = p->impl;
    return p->usable && (impl.find("bf16") != std::string::npos || impl.find("amx") != std::string::npos);
  } catch (...) { return false; }
}
#endif

} // namespace

// Native only while the active kernel ISA is avx512 (oneDNN's bf16 kernels need AVX512-BF16 or AMX): PEFT_ISA=avx2
// or scalar runs as a CPU without them would, bf16 products widened to the fp32 fallback.
bool bf16_native() {
#ifdef PEFT_HAVE_DNNL
  static const bool native = [] {
    std::string impl;
    return probe_native(impl);
  }();
  return native && active_isa() == Isa::Avx512;
#else
  return false;
#endif
}

std::string bf16_impl() {
#ifdef PEFT_HAVE_DNNL
  static const std::string impl = [] {
    std::string s;
    probe_native(s);
    return s;
  }();
  return impl;
#else
  return "none";
#endif
}

std::string bf16_backend_name() {
#ifdef PEFT_HAVE_DNNL
  const dnnl_version_t* v = dnnl::version();
  return "onednn-" + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         (v->cpu_runtime == DNNL_RUNTIME_OMP   ? "/omp"
          : v->cpu_runtime == DNNL_RUNTIME_TBB ? "/tbb"
                                               : "/seq");
#else
  return "none";
#endif
}

std::string bf16_impl_for(bool tA, bool tB, int M, int N, int K, float alpha, int lda, int ldb, float beta, int ldc) {
#ifdef PEFT_HAVE_DNNL
  if (!bf16_native()) return "fallback:f32-sgemm";
  auto p = get_prim(tA, tB, M, N, K, alpha, lda, ldb, beta, ldc);
  return p->usable ? p->impl : "fallback:f32-sgemm (oneDNN offered " + p->impl + ")";
#else
  (void)tA, (void)tB, (void)M, (void)N, (void)K, (void)alpha, (void)lda, (void)ldb, (void)beta, (void)ldc;
  return "fallback:f32-sgemm";
#endif
}

size_t bf16_cached_primitives() {
#ifdef PEFT_HAVE_DNNL
  return dnnl_cached_matmuls(DnnlInput::BF16);
#else
  return 0;
#endif
}

void gemm_bf16(bool tA, bool tB, int M, int N, int K, float alpha, const bf16* A, int lda, const bf16* B, int ldb,
               float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) {
    sgemm(false, false, M, N, 0, 0.f, nullptr, 1, nullptr, 1, beta, C, ldc); // C = beta C
    return;
  }
#ifdef PEFT_HAVE_DNNL
  if (bf16_native() && get_prim(tA, tB, M, N, K, alpha, lda, ldb, beta, ldc)->usable) {
    // One slab of C per pool thread, each a single-threaded oneDNN matmul (OpenMP team of 1: no extra threads).
    parallel_gemm_blocks(M, N, K, [&](int i0, int i1, int j0, int j1) {
      auto p = get_prim(tA, tB, i1 - i0, j1 - j0, K, alpha, lda, ldb, beta, ldc);
      if (!p->usable) {
        gemm_bf16_fallback(tA, tB, i1 - i0, j1 - j0, K, alpha, tA ? A + i0 : A + (size_t)i0 * lda, lda,
                           tB ? B + (size_t)j0 * ldb : B + j0, ldb, beta, C + (size_t)i0 * ldc + j0, ldc);
        return;
      }
      dnnl_matmul_run(*p, tA ? A + i0 : A + (size_t)i0 * lda, tB ? B + (size_t)j0 * ldb : B + j0,
                      C + (size_t)i0 * ldc + j0, "bf16");
    });
    return;
  }
#endif
  gemm_bf16_fallback(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

} // namespace peft::kern
