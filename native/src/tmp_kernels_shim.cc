// TEMPORARY (engine core, to be deleted once native/src/kernels/*.cc lands): weak, slow stand-ins for the kernel
// API so the engine can be built and tested before the kernels exist. Strong definitions override them at link.
#include <cstring>
#include <vector>
#include "kernels/kernels.h"
#include "kernels/linear.h"
#ifdef PEFT_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define WEAK __attribute__((weak))
namespace peft::kern {

WEAK void sgemm(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                float beta, float* C, int ldc) {
#ifdef PEFT_HAVE_OPENBLAS
  if (M > 0 && N > 0) {
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
                ldb, beta, C, ldc);
    return;
  }
#endif
  std::vector<float> row(N);
  for (int i = 0; i < M; i++) {
    std::fill(row.begin(), row.end(), 0.f);
    for (int k = 0; k < K; k++) {
      const float a = tA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
      if (!tB) {
        const float* b = B + (size_t)k * ldb;
        for (int j = 0; j < N; j++) row[j] += a * b[j];
      } else {
        for (int j = 0; j < N; j++) row[j] += a * B[(size_t)j * ldb + k];
      }
    }
    float* c = C + (size_t)i * ldc;
    for (int j = 0; j < N; j++) c[j] = alpha * row[j] + (beta == 0.f ? 0.f : beta * c[j]);
  }
}
WEAK void set_threads(int) {}
WEAK int threads() { return 1; }
WEAK std::string backend_info() { return "shim"; }
WEAK void parallel_for(int n, const std::function<void(int, int)>& fn) { if (n > 0) fn(0, n); }
WEAK size_t NF4Tensor::bytes() const { return 0; }

WEAK FrozenLinear::FrozenLinear(const float* w, const float* bias, int out, int in, Storage storage)
    : out_(out), in_(in), storage_(storage) {
  w32_.assign(w, w + (size_t)out * in);
  if (bias) bias_.assign(bias, bias + out);
}
WEAK size_t FrozenLinear::bytes() const { return (w32_.size() + bias_.size()) * 4; }
WEAK void FrozenLinear::forward(float* y, const float* x, int T, Compute) const {
  sgemm(false, true, T, out_, in_, 1.f, x, in_, w32_.data(), in_, 0.f, y, out_);
  if (!bias_.empty())
    for (int t = 0; t < T; t++)
      for (int o = 0; o < out_; o++) y[(size_t)t * out_ + o] += bias_[o];
}
WEAK void FrozenLinear::backward_input(float* dx, const float* dy, int T, Compute) const {
  sgemm(false, false, T, in_, out_, 1.f, dy, out_, w32_.data(), in_, 1.f, dx, in_);
}
WEAK void FrozenLinear::dequantize(float* w) const { std::memcpy(w, w32_.data(), w32_.size() * 4); }

} // namespace peft::kern

namespace peft::kern {
WEAK void gemm_bf16(bool tA, bool tB, int M, int N, int K, float alpha, const bf16* A, int lda, const bf16* B, int ldb,
                    float beta, float* C, int ldc) {
  std::vector<float> a((size_t)(tA ? K : M) * lda), b((size_t)(tB ? N : K) * ldb);
  bf16_to_f32(A, a.data(), a.size());
  bf16_to_f32(B, b.data(), b.size());
  sgemm(tA, tB, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, C, ldc);
}
WEAK void f32_to_bf16(const float* x, bf16* y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    y[i] = (bf16)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
  }
}
WEAK void bf16_to_f32(const bf16* x, float* y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)x[i] << 16;
    std::memcpy(&y[i], &u, 4);
  }
}
WEAK bool bf16_native() { return false; }
} // namespace peft::kern
