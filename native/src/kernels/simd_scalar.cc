// The portable kernel table (simd.h; no AVX on x86, the compiler's default elsewhere: ARM runs this one). Plain loops
// the compiler may vectorise with SSE / NEON; the sgemm micro-kernel uses 4-float GCC vectors.
#include "kernels/simd.h"
#include <cmath>
#include <cstring>

namespace peft::kern {
namespace {

typedef float v4 __attribute__((vector_size(16)));

struct G {
  using R = v4;
  static constexpr int W = 4, MR = 6;
  static R load(const float* p) {
    R v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static void store(float* p, R v) { std::memcpy(p, &v, sizeof(v)); }
  static R set1(float x) { return R{x, x, x, x}; }
  static R add(R a, R b) { return a + b; }
  static R mul(R a, R b) { return a * b; }
  static R fmadd(R a, R b, R c) { return a * b + c; }
};

inline void nf4_block_f32(const uint8_t* p, float a, const float* code, float* out) {
  for (int i = 0; i < 32; i++) {
    out[2 * i] = code[p[i] & 15] * a;
    out[2 * i + 1] = code[p[i] >> 4] * a;
  }
}

// 32 double lanes (element i + j of each 32-chunk in lane j), summed as simd.h fixes.
double dot_d(const float* a, const float* b, const float* c, int n) {
  int i = 0;
  double L[32] = {};
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 32; j++) L[j] += c ? (double)a[i + j] * b[i + j] * c[i + j] : (double)a[i + j] * b[i + j];
  double s = 0;
  for (int j = 0; j < 8; j++) s += (L[j] + L[j + 8]) + (L[j + 16] + L[j + 24]);
  for (; i < n; i++) s += c ? (double)a[i] * b[i] * c[i] : (double)a[i] * b[i];
  return s;
}

#define PEFT_V_IS_S 1
#define PEFT_NARROW_GEMM 0
#define PEFT_ISA_NAME "scalar"
#define GEMV_NF4 nf4_gemv_rows_scalar
#define GEMV_F32 gemv_f32_rows_scalar
#include "kernels/simd_body.inc"

} // namespace

const SimdKernels* const simd_scalar = &TABLE;

} // namespace peft::kern
