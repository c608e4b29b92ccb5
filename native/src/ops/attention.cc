// Causal multi-head attention with grouped KV heads and an optional sliding window, blocked: each task takes one
// block of at most ATT_BQ queries of one head and only the keys those queries can see, so no more than one
// [ATT_BQ, keys] block of scores exists per thread and the masked upper triangle is never computed. The forward
// saves each row's log-sum-exp; the backward recomputes the probabilities from it. fp32 mode multiplies with sgemm,
// bf16 mode with gemm_bf16 (bf16 operands, fp32 accumulation); both take the softmax with the active ISA's vectorised
// exp (kernels/vexp.h, ~1-2 ulp: scalar std::exp in the x86-64-v2 common code was ~40% of fp32 attention). One parallel region per call: forward over (sequence, head, query block), backward over
// (sequence, KV head) so the dK / dV accumulations of a KV group never race. bf16 mode goes to the AVX512-BF16
// kernels of attention_bf16.cc when the build has them and they take the shape; the gemm_bf16 path here otherwise.
// One query row per sequence (T == 1, decoding) in fp32 runs written-out dot products instead of sgemm calls.
#include <algorithm>
#include <cmath>
#include <vector>
#include "kernels/bf16_inline.h"
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "kernels/vexp.h"
#include "ops/attention_bf16.h"
#include "ops/ops.h"

namespace peft::ops {

static constexpr int ATT_BQ = 128; // queries per block

// Keys visible to the query at absolute position p: [lo, p].
static inline int first_key(int p, int window) { return window > 0 ? std::max(0, p - window + 1) : 0; }

namespace {

// The keys [k0, k1) that queries [q0, q1) (relative to the sequence) can see.
struct KeyRange {
  int k0, k1;
};
KeyRange key_range(const AttnShape& s, int q0, int q1) {
  return {first_key(s.pos0 + q0, s.window), std::min(s.Tk, s.pos0 + q1)};
}

// bf16 copy of an fp32 [rows, cols] block with row stride ld into a compact buffer.
void to_bf16_block(const float* x, int rows, int cols, int ld, std::vector<uint16_t>& out) {
  out.resize((size_t)rows * cols);
  for (int r = 0; r < rows; r++) kern::f32_to_bf16(x + (size_t)r * ld, out.data() + (size_t)r * cols, (size_t)cols);
}

// C[M,N] = alpha op(A) op(B) + beta C in the shape's precision: fp32 operands go to sgemm; in bf16 mode they are
// converted (compactly) and go to gemm_bf16.
struct Mm {
  bool bf16;
  std::vector<uint16_t> a16, b16;
  void operator()(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                  float beta, float* C, int ldc) {
    if (!bf16) {
      kern::sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
    const int ar = tA ? K : M, ac = tA ? M : K, br = tB ? N : K, bc = tB ? K : N;
    to_bf16_block(A, ar, ac, lda, a16);
    to_bf16_block(B, br, bc, ldb, b16);
    kern::gemm_bf16(tA, tB, M, N, K, alpha, a16.data(), ac, b16.data(), bc, beta, C, ldc);
  }
  // C[M, N] = op(A) B (+ C when beta is 1) with B untransposed: in fp32 mode the narrow kernel where the active ISA
  // has one for N (the products with N = head_dim: P V, dS K, dS^T Q, P^T dO; B's rows read in place instead of
  // packed on every call), else as operator().
  void narrow(bool tA, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float beta, float* C,
              int ldc) {
    if (!bf16 && (beta == 0.f || beta == 1.f) &&
        kern::gemm_narrow(tA, M, N, K, 1.f, A, lda, B, ldb, beta != 0.f, C, ldc))
      return;
    (*this)(tA, false, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc);
  }
  // bf16 mode with B already in bf16 (row stride ldb): only A is converted.
  void with_b16(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const uint16_t* B, int ldb,
                float beta, float* C, int ldc) {
    const int ar = tA ? K : M, ac = tA ? M : K;
    to_bf16_block(A, ar, ac, lda, a16);
    kern::gemm_bf16(tA, tB, M, N, K, alpha, a16.data(), ac, B, ldb, beta, C, ldc);
  }
};

// bf16 mode: keys and values [batch * Tk, kv_stride] converted once per call (every query block and every head of a
// GQA group reads them), instead of once per block product; the same values the per-block conversion gives.
void kv_to_bf16(const float* k, const float* v, const AttnShape& s, std::vector<uint16_t>& k16,
                std::vector<uint16_t>& v16) {
  const size_t rows = (size_t)s.batch * s.Tk, n = rows * s.kv_stride;
  k16.resize(n);
  v16.resize(n);
  uint16_t *K16 = k16.data(), *V16 = v16.data();
  kern::parallel_for((int)rows, [&](int b, int e) {
    const size_t o = (size_t)b * s.kv_stride, len = (size_t)(e - b) * s.kv_stride;
    kern::f32_to_bf16(k + o, K16 + o, len);
    kern::f32_to_bf16(v + o, V16 + o, len);
  });
}

// Row i of a score block (query at absolute position p) over keys [k0, k0 + nk): softmax in place given the row's
// log-sum-exp, zero outside [lo, p].
inline void probs_row(float* row, int nk, int k0, int lo, int p, float lse) {
  const int a = std::max(lo, k0) - k0, b = std::min(p + 1, k0 + nk) - k0; // visible columns [a, b)
  for (int j = 0; j < a; j++) row[j] = 0.f;
  kern::vexp_scale(row + a, (size_t)(b - a), lse, 1.f);
  for (int j = b; j < nk; j++) row[j] = 0.f;
}

// fp32 attention of one query row per sequence (decoding steps; T == 1): per head, the visible keys' scaled dot
// products, the reference softmax order (max, exp(x - max) with the vectorised exp, sum in key order, one reciprocal),
// the probability-weighted sum of values key by key. Written out instead of two sgemm calls per head, whose call
// overhead dominated a decode row; the dot products and the weighted sum are the ISA table's (kernels/simd.h: the
// same bits on every ISA).
void attention_one_query(float* out, float* lse, const float* q, const float* k, const float* v, const AttnShape& s) {
  const int group = s.nh / s.nkv;
  const float scale = 1.f / std::sqrt((float)s.hd);
  const kern::SimdKernels& sk = kern::simd();
  kern::parallel_for(s.batch * s.nh, [&](int tb, int te) {
    thread_local std::vector<float> S;
    if ((int)S.size() < s.Tk) S.resize(s.Tk);
    for (int task = tb; task < te; task++) {
      const int h = task % s.nh, b = task / s.nh, kh = h / group;
      const int p = s.pos0, lo = first_key(p, s.window), hi = std::min(s.Tk, p + 1); // keys [lo, hi)
      const float* qh = q + (size_t)b * s.q_stride + (size_t)h * s.hd;
      const float* kb = k + (size_t)b * s.Tk * s.kv_stride + (size_t)kh * s.hd;
      const float* vb = v + (size_t)b * s.Tk * s.kv_stride + (size_t)kh * s.hd;
      float* oh = out + (size_t)b * s.q_stride + (size_t)h * s.hd;
      sk.attn_scores(S.data() + lo, qh, kb + (size_t)lo * s.kv_stride, hi - lo, s.kv_stride, s.hd, scale);
      float mx = -INFINITY;
      for (int j = lo; j < hi; j++) mx = std::max(mx, S[j]);
      kern::vexp_scale(S.data() + lo, (size_t)(hi - lo), mx, 1.f); // the ISA's vectorised exp, element-wise
      float sum = 0.f;
      for (int j = lo; j < hi; j++) sum += S[j];
      const float inv = 1.f / sum;
      sk.attn_weighted_sum(oh, S.data() + lo, inv, vb + (size_t)lo * s.kv_stride, hi - lo, s.kv_stride, s.hd);
      if (lse) lse[(size_t)b * s.nh + h] = mx + std::log(sum);
    }
  });
}

} // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const AttnShape& s) {
  if (s.bf16 && attention_bf16_supported(s)) return attention_forward_bf16(out, lse, q, k, v, s);
  if (s.T == 1 && !s.bf16) return attention_one_query(out, lse, q, k, v, s);
  const int group = s.nh / s.nkv, nqb = (s.T + ATT_BQ - 1) / ATT_BQ;
  const float scale = 1.f / std::sqrt((float)s.hd);
  const int tasks = s.batch * s.nh * nqb;
  thread_local std::vector<uint16_t> k16, v16;
  if (s.bf16) kv_to_bf16(k, v, s, k16, v16);
  const uint16_t *K16 = k16.data(), *V16 = v16.data(); // the caller's buffers (a thread_local named in the pool's
                                                       // threads would be each thread's own, empty one)
  kern::parallel_for(tasks, [&](int tb, int te) {
    thread_local std::vector<float> S;
    Mm mm{s.bf16, {}, {}};
    S.resize((size_t)ATT_BQ * s.Tk);
    for (int task = tb; task < te; task++) {
      const int qb = task % nqb, h = (task / nqb) % s.nh, b = task / (nqb * s.nh), kh = h / group;
      const int q0 = qb * ATT_BQ, q1 = std::min(s.T, q0 + ATT_BQ), nq = q1 - q0;
      const KeyRange kr = key_range(s, q0, q1);
      const int nk = kr.k1 - kr.k0;
      const float* qh = q + ((size_t)b * s.T + q0) * s.q_stride + (size_t)h * s.hd;
      const float* kk = k + ((size_t)b * s.Tk + kr.k0) * s.kv_stride + (size_t)kh * s.hd;
      const float* vv = v + ((size_t)b * s.Tk + kr.k0) * s.kv_stride + (size_t)kh * s.hd;
      float* oh = out + ((size_t)b * s.T + q0) * s.q_stride + (size_t)h * s.hd;
      float* L = lse ? lse + ((size_t)b * s.nh + h) * s.T + q0 : nullptr;
      const size_t kvoff = ((size_t)b * s.Tk + kr.k0) * s.kv_stride + (size_t)kh * s.hd;
      if (s.bf16)
        mm.with_b16(false, true, nq, nk, s.hd, scale, qh, s.q_stride, K16 + kvoff, s.kv_stride, 0.f, S.data(), nk);
      else
        mm(false, true, nq, nk, s.hd, scale, qh, s.q_stride, kk, s.kv_stride, 0.f, S.data(), nk); // S = scale Q K^T
      for (int i = 0; i < nq; i++) {
        float* row = S.data() + (size_t)i * nk;
        const int p = s.pos0 + q0 + i, lo = first_key(p, s.window);
        const int a = lo - kr.k0, e = p + 1 - kr.k0; // visible [a, e)
        const float mx = kern::vmax(row + a, (size_t)(e - a));
        const float l = mx + (float)std::log(kern::vsumexp(row + a, (size_t)(e - a), mx));
        probs_row(row, nk, kr.k0, lo, p, l);
        if (L) L[i] = l;
      }
      if (s.bf16)
        mm.with_b16(false, false, nq, s.hd, nk, 1.f, S.data(), nk, V16 + kvoff, s.kv_stride, 0.f, oh, s.q_stride);
      else
        mm.narrow(false, nq, s.hd, nk, S.data(), nk, vv, s.kv_stride, 0.f, oh, s.q_stride); // O = P V
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                        const float* k, const float* v, const float* lse, const AttnShape& s) {
  if (s.bf16 && attention_bf16_supported(s)) return attention_backward_bf16(dq, dk, dv, dout, out, q, k, v, lse, s);
  const int group = s.nh / s.nkv, nqb = (s.T + ATT_BQ - 1) / ATT_BQ;
  const float scale = 1.f / std::sqrt((float)s.hd);
  thread_local std::vector<uint16_t> k16, v16;
  if (s.bf16) kv_to_bf16(k, v, s, k16, v16);
  const uint16_t *K16 = k16.data(), *V16 = v16.data(); // the caller's buffers (a thread_local named in the pool's
                                                       // threads would be each thread's own, empty one)
  kern::parallel_for(s.batch * s.nkv, [&](int tb, int te) {
    thread_local std::vector<float> P, dP;
    Mm mm{s.bf16, {}, {}};
    P.resize((size_t)ATT_BQ * s.Tk);
    dP.resize((size_t)ATT_BQ * s.Tk);
    for (int task = tb; task < te; task++) {
      const int kh = task % s.nkv, b = task / s.nkv;
      for (int h = kh * group; h < (kh + 1) * group; h++)
        for (int qb = 0; qb < nqb; qb++) {
          const int q0 = qb * ATT_BQ, q1 = std::min(s.T, q0 + ATT_BQ), nq = q1 - q0;
          const KeyRange kr = key_range(s, q0, q1);
          const int nk = kr.k1 - kr.k0;
          const size_t qoff = ((size_t)b * s.T + q0) * s.q_stride + (size_t)h * s.hd;
          const size_t koff = ((size_t)b * s.Tk + kr.k0) * s.kv_stride + (size_t)kh * s.hd;
          const float* qh = q + qoff;
          const float* doh = dout + qoff;
          const float* oh = out + qoff;
          const float* L = lse + ((size_t)b * s.nh + h) * s.T + q0;
          if (s.bf16) {
            mm.with_b16(false, true, nq, nk, s.hd, scale, qh, s.q_stride, K16 + koff, s.kv_stride, 0.f, P.data(), nk);
            mm.with_b16(false, true, nq, nk, s.hd, 1.f, doh, s.q_stride, V16 + koff, s.kv_stride, 0.f, dP.data(), nk);
          } else {
            mm(false, true, nq, nk, s.hd, scale, qh, s.q_stride, k + koff, s.kv_stride, 0.f, P.data(), nk);
            mm(false, true, nq, nk, s.hd, 1.f, doh, s.q_stride, v + koff, s.kv_stride, 0.f, dP.data(), nk); // dO V^T
          }
          for (int i = 0; i < nq; i++) {
            float* pr = P.data() + (size_t)i * nk;
            float* dr = dP.data() + (size_t)i * nk;
            const int p = s.pos0 + q0 + i, lo = first_key(p, s.window);
            float D = 0.f; // sum_j P_ij dP_ij = dO_i . O_i
            for (int d = 0; d < s.hd; d++) D += doh[(size_t)i * s.q_stride + d] * oh[(size_t)i * s.q_stride + d];
            probs_row(pr, nk, kr.k0, lo, p, L[i]);
            kern::simd().softmax_bwd_row(dr, pr, (size_t)nk, D, scale); // dS (score scale folded in)
          }
          if (s.bf16)
            mm.with_b16(false, false, nq, s.hd, nk, 1.f, dP.data(), nk, K16 + koff, s.kv_stride, 0.f, dq + qoff,
                        s.q_stride);
          else
            mm.narrow(false, nq, s.hd, nk, dP.data(), nk, k + koff, s.kv_stride, 0.f, dq + qoff,
                      s.q_stride);                                                                   // dQ = dS K
          mm.narrow(true, nk, s.hd, nq, dP.data(), nk, qh, s.q_stride, 1.f, dk + koff, s.kv_stride); // dK += dS^T Q
          mm.narrow(true, nk, s.hd, nq, P.data(), nk, doh, s.q_stride, 1.f, dv + koff, s.kv_stride); // dV += P^T dO
        }
    }
  });
}

} // namespace peft::ops
