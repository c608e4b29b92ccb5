// Built-in blocked sgemm (BLIS-style packing + register-blocked micro-kernel written with GCC vector extensions,
// so it compiles to AVX-512 / AVX2 / NEON as the target allows). Used when OpenBLAS is absent, and for GEMMs
// called from inside a parallel_for (run serially there). Deterministic: every C element sums over k in one fixed
// order whatever the thread count.
#include <algorithm>
#include <cstring>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include "kernels/kernels.h"
#include "kernels/sgemm_builtin.h"

namespace peft::kern {

namespace {

#if defined(__AVX512F__)
constexpr int VL = 16;
constexpr int MR = 12;
#else
constexpr int VL = 8;
constexpr int MR = 6;
#endif
constexpr int NR = 2 * VL;
constexpr int KC = 256;
constexpr int MC = MR * 10;
constexpr int NC = NR * 64;

typedef float vf __attribute__((vector_size(VL * 4)));

inline vf loadu(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void storeu(float* p, vf v) { std::memcpy(p, &v, sizeof(v)); }
#if defined(__AVX512F__)
inline vf bcast(float x) { return (vf)_mm512_set1_ps(x); }
#elif defined(__AVX__)
inline vf bcast(float x) { return (vf)_mm256_set1_ps(x); }
#else
inline vf bcast(float x) {
  vf v;
  for (int i = 0; i < VL; i++) v[i] = x;
  return v;
}
#endif

// acc[MR][NR] = sum_k a[k][0..MR) x b[k][0..NR) over packed panels.
inline void micro_kernel(int kc, const float* __restrict a, const float* __restrict b, float* __restrict c, int ldc,
                         int mr, int nr, float alpha, float beta, bool first) {
  vf acc0[MR], acc1[MR];
  for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = vf{};
  for (int k = 0; k < kc; k++) {
    const vf b0 = loadu(b), b1 = loadu(b + VL);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      const vf ai = bcast(a[i]);
      acc0[i] += ai * b0;
      acc1[i] += ai * b1;
    }
    a += MR;
    b += NR;
  }
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; i++) {
      float* ci = c + (size_t)i * ldc;
      vf r0 = acc0[i] * alpha, r1 = acc1[i] * alpha;
      if (!first) {
        r0 += loadu(ci);
        r1 += loadu(ci + VL);
      } else if (beta != 0.f) {
        r0 += loadu(ci) * beta;
        r1 += loadu(ci + VL) * beta;
      }
      storeu(ci, r0);
      storeu(ci + VL, r1);
    }
    return;
  }
  float tmp[MR][NR];
  for (int i = 0; i < MR; i++) {
    storeu(tmp[i], acc0[i]);
    storeu(tmp[i] + VL, acc1[i]);
  }
  for (int i = 0; i < mr; i++) {
    float* ci = c + (size_t)i * ldc;
    for (int j = 0; j < nr; j++) {
      const float v = alpha * tmp[i][j];
      ci[j] = first ? (beta == 0.f ? v : v + beta * ci[j]) : ci[j] + v;
    }
  }
}

// Packs op(A)[i0:i0+mc, k0:k0+kc] into MR-row panels, k-major inside a panel, zero-padded.
void pack_a(bool tA, const float* A, int lda, int i0, int mc, int k0, int kc, float* dst) {
  for (int ip = 0; ip < mc; ip += MR) {
    const int mr = std::min(MR, mc - ip);
    float* d = dst + (size_t)ip * kc;
    if (!tA) {
      for (int k = 0; k < kc; k++)
        for (int i = 0; i < MR; i++) d[(size_t)k * MR + i] = i < mr ? A[(size_t)(i0 + ip + i) * lda + k0 + k] : 0.f;
    } else {
      for (int k = 0; k < kc; k++) {
        const float* src = A + (size_t)(k0 + k) * lda + i0 + ip;
        for (int i = 0; i < MR; i++) d[(size_t)k * MR + i] = i < mr ? src[i] : 0.f;
      }
    }
  }
}

// Packs op(B)[k0:k0+kc, j0:j0+nc] into NR-column panels, k-major inside a panel, zero-padded.
void pack_b_panel(bool tB, const float* B, int ldb, int k0, int kc, int j, int nr, float* d) {
  if (!tB) {
    for (int k = 0; k < kc; k++) {
      const float* src = B + (size_t)(k0 + k) * ldb + j;
      float* dk = d + (size_t)k * NR;
      if (nr == NR)
        std::memcpy(dk, src, NR * 4);
      else
        for (int c = 0; c < NR; c++) dk[c] = c < nr ? src[c] : 0.f;
    }
  } else {
    for (int c = 0; c < NR; c++) {
      if (c < nr) {
        const float* src = B + (size_t)(j + c) * ldb + k0;
        for (int k = 0; k < kc; k++) d[(size_t)k * NR + c] = src[k];
      } else {
        for (int k = 0; k < kc; k++) d[(size_t)k * NR + c] = 0.f;
      }
    }
  }
}

void scale_c(int M, int N, float beta, float* C, int ldc) {
  for (int i = 0; i < M; i++) {
    float* c = C + (size_t)i * ldc;
    if (beta == 0.f)
      std::memset(c, 0, (size_t)N * 4);
    else
      for (int j = 0; j < N; j++) c[j] *= beta;
  }
}

} // namespace

void sgemm_builtin(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                   float beta, float* C, int ldc, bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const int nc_max = std::min(NC, (N + NR - 1) / NR * NR);
  const int kc_max = std::min(KC, K);
  std::vector<float> bpack((size_t)nc_max * kc_max);
  for (int jc = 0; jc < N; jc += NC) {
    const int nc = std::min(NC, N - jc);
    const int npanels = (nc + NR - 1) / NR;
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = std::min(KC, K - pc);
      const bool first = pc == 0;
      auto packb = [&](int b, int e) {
        for (int p = b; p < e; p++)
          pack_b_panel(tB, B, ldb, pc, kc, jc + p * NR, std::min(NR, nc - p * NR), bpack.data() + (size_t)p * NR * kc);
      };
      // Tasks: row blocks x groups of column panels (groups only when there are too few row blocks to share).
      const int mblocks = (M + MC - 1) / MC;
      const int nthr = parallel ? threads() : 1;
      const int pgroups = std::min(npanels, std::max(1, (2 * nthr + mblocks - 1) / mblocks));
      auto body = [&](int b, int e) {
        thread_local std::vector<float> apack;
        if (apack.size() < (size_t)MC * KC) apack.resize((size_t)MC * KC);
        for (int task = b; task < e; task++) {
          const int blk = task / pgroups, g = task % pgroups;
          const int ic = blk * MC, mc = std::min(MC, M - ic);
          const int p0 = (int)((long long)npanels * g / pgroups), p1 = (int)((long long)npanels * (g + 1) / pgroups);
          pack_a(tA, A, lda, ic, mc, pc, kc, apack.data());
          for (int p = p0; p < p1; p++) {
            const int j = p * NR, nr = std::min(NR, nc - j);
            const float* bp = bpack.data() + (size_t)p * NR * kc;
            for (int ip = 0; ip < mc; ip += MR)
              micro_kernel(kc, apack.data() + (size_t)ip * kc, bp, C + (size_t)(ic + ip) * ldc + jc + j, ldc,
                           std::min(MR, mc - ip), nr, alpha, beta, first);
          }
        }
      };
      if (parallel) {
        parallel_for(npanels, packb);
        parallel_for(mblocks * pgroups, body);
      } else {
        packb(0, npanels);
        body(0, mblocks * pgroups);
      }
    }
  }
}

} // namespace peft::kern
