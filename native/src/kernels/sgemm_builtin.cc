// Built-in blocked sgemm (BLIS-style packing + a register-blocked micro-kernel). The micro-kernel is the active ISA's
// (kernels/simd.h: 12x32 with AVX-512, 6x16 with AVX2 + FMA, 6x8 GCC vectors in the portable unit); the packing and
// blocking here follow its MR x NR. Used when OpenBLAS is absent or slower, and for GEMMs called from inside a
// parallel_for (run serially there). Deterministic: every C element sums over k in one fixed order whatever the
// thread count.
#include <algorithm>
#include <cstring>
#include <vector>
#include "kernels/kernels.h"
#include "kernels/sgemm_builtin.h"
#include "kernels/simd.h"

namespace peft::kern {

namespace {

constexpr int KC = 256;
constexpr int MR_MAX = 16;

// Packs op(A)[i0:i0+mc, k0:k0+kc] into MR-row panels, k-major inside a panel, zero-padded.
void pack_a(int MR, bool tA, const float* A, int lda, int i0, int mc, int k0, int kc, float* dst) {
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
void pack_b_panel(int NR, bool tB, const float* B, int ldb, int k0, int kc, int j, int nr, float* d) {
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
  const SimdKernels& K_ = simd();
  const int MR = K_.sgemm_mr, NR = K_.sgemm_nr, MC = MR * 10, NC = NR * 64;
  const auto micro_kernel = K_.sgemm_micro;
  const int nc_max = std::min(NC, (N + NR - 1) / NR * NR);
  const int kc_max = std::min(KC, K);
  // Two B buffers: in parallel mode one region multiplies the k block packed in one buffer while its last tasks pack
  // the next k block into the other, so a product costs 1 + (K blocks) pool regions per column block, not 2 per k
  // block (pool hand-offs cost milliseconds on a busy machine).
  std::vector<float> bpack[2] = {std::vector<float>((size_t)nc_max * kc_max),
                                 std::vector<float>(K > KC ? (size_t)nc_max * kc_max : 0)};
  const int mblocks = (M + MC - 1) / MC;
  const int nthr = parallel ? threads() : 1;
  for (int jc = 0; jc < N; jc += NC) {
    const int nc = std::min(NC, N - jc);
    const int npanels = (nc + NR - 1) / NR;
    // Tasks: row blocks x groups of column panels (groups only when there are too few row blocks to share).
    const int pgroups = std::min(npanels, std::max(1, (2 * nthr + mblocks - 1) / mblocks));
    const int ntasks = mblocks * pgroups;
    auto packb = [&](int pc, int b, int e) {
      const int kc = std::min(KC, K - pc);
      float* dst = bpack[(pc / KC) & 1].data();
      for (int p = b; p < e; p++)
        pack_b_panel(NR, tB, B, ldb, pc, kc, jc + p * NR, std::min(NR, nc - p * NR), dst + (size_t)p * NR * kc);
    };
    auto body = [&](int pc, int b, int e) {
      const int kc = std::min(KC, K - pc);
      const bool first = pc == 0;
      const float* bbuf = bpack[(pc / KC) & 1].data();
      thread_local std::vector<float> apack;
      if (apack.size() < (size_t)MR_MAX * 10 * KC) apack.resize((size_t)MR_MAX * 10 * KC);
      for (int task = b; task < e; task++) {
        const int blk = task / pgroups, g = task % pgroups;
        const int ic = blk * MC, mc = std::min(MC, M - ic);
        const int p0 = (int)((long long)npanels * g / pgroups), p1 = (int)((long long)npanels * (g + 1) / pgroups);
        pack_a(MR, tA, A, lda, ic, mc, pc, kc, apack.data());
        for (int p = p0; p < p1; p++) {
          const int j = p * NR, nr = std::min(NR, nc - j);
          const float* bp = bbuf + (size_t)p * NR * kc;
          for (int ip = 0; ip < mc; ip += MR)
            micro_kernel(kc, apack.data() + (size_t)ip * kc, bp, C + (size_t)(ic + ip) * ldc + jc + j, ldc,
                         std::min(MR, mc - ip), nr, alpha, beta, first);
        }
      }
    };
    if (!parallel) {
      for (int pc = 0; pc < K; pc += KC) {
        packb(pc, 0, npanels);
        body(pc, 0, ntasks);
      }
      continue;
    }
    parallel_for(npanels, [&](int b, int e) { packb(0, b, e); });
    for (int pc = 0; pc < K; pc += KC) {
      const int next = pc + KC < K ? npanels : 0; // packing tasks of the next k block, after this block's products
      parallel_for(ntasks + next, [&](int b, int e) {
        if (b < ntasks) body(pc, b, std::min(e, ntasks));
        if (e > ntasks) packb(pc + KC, std::max(b, ntasks) - ntasks, e - ntasks);
      });
    }
  }
}

} // namespace peft::kern
