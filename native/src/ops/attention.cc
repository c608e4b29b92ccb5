// Causal multi-head attention with grouped KV heads and an optional sliding window. The forward keeps only
// one row of scores at a time and saves the log-sum-exp; the backward recomputes the probabilities from it.
#include <algorithm>
#include <cmath>
#include <vector>
#include "kernels/kernels.h"
#include "ops/ops.h"

namespace peft::ops {

static inline float dot(const float* a, const float* b, int n) {
  float s = 0.f;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

// Keys visible to the query at absolute position p: [lo, p].
static inline int first_key(int p, int window) { return window > 0 ? std::max(0, p - window + 1) : 0; }

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const AttnShape& s) {
  const int group = s.nh / s.nkv;
  const float scale = 1.f / std::sqrt((float)s.hd);
  kern::parallel_for(s.nh * s.T, [&](int b, int e) {
    std::vector<float> sc(s.Tk); // one row of scores
    for (int w = b; w < e; w++) {
      const int h = w / s.T, i = w % s.T, kh = h / group;
      const int p = s.pos0 + i, lo = first_key(p, s.window);
      const float* qi = q + (size_t)i * s.q_stride + (size_t)h * s.hd;
      float mx = -INFINITY;
      for (int j = lo; j <= p; j++) {
        sc[j] = dot(qi, k + (size_t)j * s.kv_stride + (size_t)kh * s.hd, s.hd) * scale;
        mx = std::max(mx, sc[j]);
      }
      float sum = 0.f;
      for (int j = lo; j <= p; j++) { sc[j] = std::exp(sc[j] - mx); sum += sc[j]; }
      const float inv = 1.f / sum;
      float* oi = out + (size_t)i * s.q_stride + (size_t)h * s.hd;
      for (int d = 0; d < s.hd; d++) oi[d] = 0.f;
      for (int j = lo; j <= p; j++) {
        const float pj = sc[j] * inv;
        const float* vj = v + (size_t)j * s.kv_stride + (size_t)kh * s.hd;
        for (int d = 0; d < s.hd; d++) oi[d] += pj * vj[d];
      }
      if (lse) lse[(size_t)h * s.T + i] = mx + std::log(sum);
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* q,
                        const float* k, const float* v, const float* lse, const AttnShape& s) {
  const int group = s.nh / s.nkv;
  const float scale = 1.f / std::sqrt((float)s.hd);
  // One KV head per work item: its dk/dv columns are written by no one else, so no races and a fixed order.
  kern::parallel_for(s.nkv, [&](int b, int e) {
    std::vector<float> ds(s.Tk);
    for (int kh = b; kh < e; kh++) {
      for (int h = kh * group; h < (kh + 1) * group; h++) {
        for (int i = 0; i < s.T; i++) {
          const int p = s.pos0 + i, lo = first_key(p, s.window);
          const float* qi = q + (size_t)i * s.q_stride + (size_t)h * s.hd;
          const float* doi = dout + (size_t)i * s.q_stride + (size_t)h * s.hd;
          const float* oi = out + (size_t)i * s.q_stride + (size_t)h * s.hd;
          const float L = lse[(size_t)h * s.T + i];
          const float D = dot(doi, oi, s.hd); // sum_j p_j dp_j
          float* dqi = dq + (size_t)i * s.q_stride + (size_t)h * s.hd;
          for (int d = 0; d < s.hd; d++) dqi[d] = 0.f;
          for (int j = lo; j <= p; j++) {
            const float* kj = k + (size_t)j * s.kv_stride + (size_t)kh * s.hd;
            const float* vj = v + (size_t)j * s.kv_stride + (size_t)kh * s.hd;
            const float pj = std::exp(dot(qi, kj, s.hd) * scale - L);
            const float dpj = dot(doi, vj, s.hd);
            float* dvj = dv + (size_t)j * s.kv_stride + (size_t)kh * s.hd;
            for (int d = 0; d < s.hd; d++) dvj[d] += pj * doi[d];
            const float dsj = pj * (dpj - D) * scale;
            float* dkj = dk + (size_t)j * s.kv_stride + (size_t)kh * s.hd;
            for (int d = 0; d < s.hd; d++) { dqi[d] += dsj * kj[d]; dkj[d] += dsj * qi[d]; }
          }
        }
      }
    }
  });
}

} // namespace peft::ops
