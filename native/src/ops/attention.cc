// Causal multi-head attention with grouped KV heads and an optional sliding window, one head at a time through
// sgemm: only one [T, Tk] block of scores exists at once. The forward saves each row's log-sum-exp; the backward
// recomputes the probabilities from it (no [heads, T, T] tensor is kept).
#include <algorithm>
#include <cmath>
#include <vector>
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace peft::ops {

// Keys visible to the query at absolute position p: [lo, p].
static inline int first_key(int p, int window) { return window > 0 ? std::max(0, p - window + 1) : 0; }

// P[T, Tk] = masked softmax of the scores in S (in place); lse [T] when non-null.
static void softmax_rows(float* S, float* lse, const AttnShape& s) {
  par_rows(s.T, (size_t)s.Tk, [&](int b, int e) {
    for (int i = b; i < e; i++) {
      float* row = S + (size_t)i * s.Tk;
      const int p = s.pos0 + i, lo = first_key(p, s.window);
      float mx = -INFINITY;
      for (int j = lo; j <= p; j++) mx = std::max(mx, row[j]);
      float sum = 0.f;
      for (int j = 0; j < lo; j++) row[j] = 0.f;
      for (int j = lo; j <= p; j++) { row[j] = std::exp(row[j] - mx); sum += row[j]; }
      for (int j = p + 1; j < s.Tk; j++) row[j] = 0.f;
      const float inv = 1.f / sum;
      for (int j = lo; j <= p; j++) row[j] *= inv;
      if (lse) lse[i] = mx + std::log(sum);
    }
  });
}

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const AttnShape& s) {
  const int group = s.nh / s.nkv;
  const float scale = 1.f / std::sqrt((float)s.hd);
  thread_local std::vector<float> S;
  S.resize((size_t)s.T * s.Tk);
  for (int h = 0; h < s.nh; h++) {
    const int kh = h / group;
    kern::sgemm(false, true, s.T, s.Tk, s.hd, scale, q + (size_t)h * s.hd, s.q_stride, k + (size_t)kh * s.hd, s.kv_stride,
                0.f, S.data(), s.Tk);                                                         // S = scale Q K^T
    softmax_rows(S.data(), lse ? lse + (size_t)h * s.T : nullptr, s);                         // P
    kern::sgemm(false, false, s.T, s.hd, s.Tk, 1.f, S.data(), s.Tk, v + (size_t)kh * s.hd, s.kv_stride, 0.f,
                out + (size_t)h * s.hd, s.q_stride);                                          // O = P V
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                        const float* k, const float* v, const float* lse, const AttnShape& s) {
  const int group = s.nh / s.nkv;
  const float scale = 1.f / std::sqrt((float)s.hd);
  thread_local std::vector<float> P, dP;
  P.resize((size_t)s.T * s.Tk);
  dP.resize((size_t)s.T * s.Tk);
  for (int h = 0; h < s.nh; h++) {
    const int kh = h / group;
    const float* qh = q + (size_t)h * s.hd;
    const float* kk = k + (size_t)kh * s.hd;
    const float* vv = v + (size_t)kh * s.hd;
    const float* doh = dout + (size_t)h * s.hd;
    const float* oh = out + (size_t)h * s.hd;
    const float* L = lse + (size_t)h * s.T;
    kern::sgemm(false, true, s.T, s.Tk, s.hd, scale, qh, s.q_stride, kk, s.kv_stride, 0.f, P.data(), s.Tk);
    kern::sgemm(false, true, s.T, s.Tk, s.hd, 1.f, doh, s.q_stride, vv, s.kv_stride, 0.f, dP.data(), s.Tk); // dP = dO V^T
    float* Pp = P.data();   // raw pointers: P / dP are thread_local, the pool's threads must see this thread's buffers
    float* dPp = dP.data();
    par_rows(s.T, (size_t)s.Tk, [&](int b, int e) {
      for (int i = b; i < e; i++) {
        float* pr = Pp + (size_t)i * s.Tk;
        float* dr = dPp + (size_t)i * s.Tk;
        const int p = s.pos0 + i, lo = first_key(p, s.window);
        float D = 0.f; // sum_j P_ij dP_ij = dO_i . O_i
        for (int d = 0; d < s.hd; d++) D += doh[(size_t)i * s.q_stride + d] * oh[(size_t)i * s.q_stride + d];
        for (int j = 0; j < s.Tk; j++) {
          if (j < lo || j > p) { pr[j] = 0.f; dr[j] = 0.f; continue; }
          pr[j] = std::exp(pr[j] - L[i]);
          dr[j] = pr[j] * (dr[j] - D) * scale; // dS (pre-scale score gradient folded in)
        }
      }
    });
    kern::sgemm(false, false, s.T, s.hd, s.Tk, 1.f, dP.data(), s.Tk, kk, s.kv_stride, 0.f, dq + (size_t)h * s.hd,
                s.q_stride);                                                                        // dQ = dS K
    kern::sgemm(true, false, s.Tk, s.hd, s.T, 1.f, dP.data(), s.Tk, qh, s.q_stride, 1.f, dk + (size_t)kh * s.hd,
                s.kv_stride);                                                                       // dK += dS^T Q
    kern::sgemm(true, false, s.Tk, s.hd, s.T, 1.f, P.data(), s.Tk, doh, s.q_stride, 1.f, dv + (size_t)kh * s.hd,
                s.kv_stride);                                                                       // dV += P^T dO
  }
}

} // namespace peft::ops
