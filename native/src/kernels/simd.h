// The per-ISA kernel table: every hot loop of the training and decode paths that has an instruction-set-specific body
// (exp rows, SwiGLU, RMSNorm rows, bf16 conversion, NF4 dequantization, decode GEMVs, the sgemm micro-kernel, decode
// attention of one query, the narrow products and softmax backward rows of training). Each
// table lives in its own translation unit built with its own flags (simd_avx512.cc, simd_avx2.cc, simd_scalar.cc);
// simd() returns the active ISA's (kernels/isa.h). The common code, built for a baseline x86-64, only calls through it.
#pragma once
#include <cstddef>
#include <cstdint>
#include "kernels/gemv_variants.h"
#include "kernels/isa.h"

namespace peft::kern {

struct SimdKernels {
  const char* isa;
  // Row reductions for softmax / cross-entropy (vexp.h): max; sum_i exp(x_i - m) (16 float lanes, then double, in
  // a fixed order: the same bits on every ISA); x_i = exp(x_i - m) * scale in place.
  float (*vmax)(const float* x, size_t n);
  double (*vsumexp)(const float* x, size_t n, float m);
  void (*vexp_scale)(float* x, size_t n, float m, float scale);
  // SwiGLU with the vectorised exp: h = silu(g) u; its backward (in place allowed: dg == g, du == u).
  void (*swiglu_fwd)(float* h, const float* g, const float* u, size_t n);
  void (*swiglu_bwd)(float* dg, float* du, const float* dh, const float* g, const float* u, size_t n);
  // RMSNorm rows: sum_i a_i b_i (c_i) in double (32 lanes, fixed order); y = w * (x * rs);
  // dx += rs dy w - k x (in double).
  double (*dot_d)(const float* a, const float* b, const float* c, int n);
  void (*norm_row)(float* y, const float* x, const float* w, float rs, int n);
  void (*norm_bwd_row)(float* dx, const float* dy, const float* w, const float* x, double rs, double k, int n);
  // fp32 <-> bf16, round to nearest even, NaN kept (quietened).
  void (*f32_to_bf16)(const float* x, uint16_t* y, size_t n);
  void (*bf16_to_f32)(const uint16_t* x, float* y, size_t n);
  // NF4 blocks blk0 + [b, e) dequantized: block i to out + (i / per_row) * ld + (i % per_row) * 64.
  void (*nf4_f32)(const Nf4View& w, size_t blk0, size_t b, size_t e, size_t per_row, float* out, size_t ld);
  void (*nf4_bf16)(const Nf4View& w, size_t blk0, size_t b, size_t e, size_t per_row, uint16_t* out, size_t ld);
  // Decode GEMVs (gemv_variants.h).
  Nf4GemvRows nf4_gemv_rows;
  GemvF32Rows gemv_f32_rows;
  // The built-in sgemm's register block: C[mr, nr] (+)= alpha A B over kc packed steps (A panels of sgemm_mr rows,
  // B panels of sgemm_nr columns; see sgemm_builtin.cc).
  int sgemm_mr, sgemm_nr;
  void (*sgemm_micro)(int kc, const float* a, const float* b, float* c, int ldc, int mr, int nr, float alpha,
                      float beta, bool first);
  // Decode attention of one query row over n keys (rows of k / v ld floats apart, hd values each; simd_body.inc
  // fixes the order, the same bits on every ISA): S[j] = scale * q . k_j; out[d] = sum_j (S[j] * inv) v_j[d].
  void (*attn_scores)(float* S, const float* q, const float* k, int n, int ld, int hd, float scale);
  void (*attn_weighted_sum)(float* out, const float* S, float inv, const float* v, int n, int ld, int hd);
  // Narrow products with B read in place (simd_body.inc; kern::gemm_narrow): C[M, N] = alpha op(A) B (+ C when
  // accumulate) for row-major B [K, N] (ldb) and N a multiple of narrow_nr; op(A) = A [M, K] (lda), or A^T of A [K, M]
  // when transA. Each C element is a chain of fused multiply-adds from zero over each 128-step block of k, the
  // blocks' alpha-scaled sums added to C in k order. AVX-512 only (null on the others, where sgemm runs these
  // products: see simd_body.inc).
  int narrow_nr;
  void (*gemm_narrow)(bool transA, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                      bool accumulate, float* C, int ldc);
  // The softmax backward of one attention row in place: dp_i = p_i (dp_i - D) scale (element-wise, the same bits on
  // every ISA).
  void (*softmax_bwd_row)(float* dp, const float* p, size_t n, float D, float scale);
};

// Null where the build has no such unit (a non-x86 compiler).
extern const SimdKernels* const simd_avx512;
extern const SimdKernels* const simd_avx2;
extern const SimdKernels* const simd_scalar; // always built

const SimdKernels& simd_for(Isa isa);
const SimdKernels& simd(); // the active ISA's

} // namespace peft::kern
