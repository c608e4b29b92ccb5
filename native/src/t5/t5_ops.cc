// T5's relative position buckets, biased unscaled attention and gated gelu_new, forward and backward (fp32 reference
// loops, parallel over heads / rows).
#include "t5/t5_ops.h"
#include <algorithm>
#include <cmath>
#include "ops/ops.h"

namespace peft::t5 {

int relative_bucket(int rel, bool bidirectional, int num_buckets, int max_distance) {
  int ret = 0, nb = num_buckets;
  if (bidirectional) {
    nb /= 2;
    if (rel > 0) ret += nb;
    rel = std::abs(rel);
  } else {
    rel = -std::min(rel, 0);
  }
  const int max_exact = nb / 2;
  if (rel < max_exact) return ret + rel;
  const float lg = std::log((float)rel / (float)max_exact) / (float)std::log((double)max_distance / max_exact) *
                   (float)(nb - max_exact);
  const int large = std::min(max_exact + (int)lg, nb - 1);
  return ret + large;
}

void position_bias(std::vector<float>& bias, const float* table, int nh, int Tq, int Tk, int q0, bool bidirectional,
                   int num_buckets, int max_distance) {
  bias.assign((size_t)nh * Tq * Tk, 0.f);
  for (int i = 0; i < Tq; i++)
    for (int j = 0; j < Tk; j++) {
      const int b = relative_bucket(j - (q0 + i), bidirectional, num_buckets, max_distance);
      for (int h = 0; h < nh; h++) bias[((size_t)h * Tq + i) * Tk + j] = table[(size_t)b * nh + h];
    }
}

void attention_forward(float* out, float* P, const float* q, const float* k, const float* v, const float* bias,
                       const AttnDims& d) {
  const int W = d.nh * d.dk;
  ops::par_rows(d.nh * d.Tq, (size_t)d.Tk * d.dk * 2, [&](int lo, int hi) {
    for (int hi_ = lo; hi_ < hi; hi_++) {
      const int h = hi_ / d.Tq, i = hi_ % d.Tq;
      float* p = P + ((size_t)h * d.Tq + i) * d.Tk;
      const float* qi = q + (size_t)i * W + h * d.dk;
      const int nk = d.causal ? std::min(d.Tk, d.q0 + i + 1) : d.Tk;
      float mx = -INFINITY;
      for (int j = 0; j < nk; j++) {
        const float* kj = k + (size_t)j * W + h * d.dk;
        float s = 0.f;
        for (int c = 0; c < d.dk; c++) s += qi[c] * kj[c];
        if (bias) s += bias[((size_t)h * d.Tq + i) * d.Tk + j];
        p[j] = s;
        mx = std::max(mx, s);
      }
      float sum = 0.f;
      for (int j = 0; j < nk; j++) sum += p[j] = std::exp(p[j] - mx);
      const float inv = 1.f / sum;
      for (int j = 0; j < nk; j++) p[j] *= inv;
      for (int j = nk; j < d.Tk; j++) p[j] = 0.f;
      float* o = out + (size_t)i * W + h * d.dk;
      std::fill(o, o + d.dk, 0.f);
      for (int j = 0; j < nk; j++) {
        const float* vj = v + (size_t)j * W + h * d.dk;
        for (int c = 0; c < d.dk; c++) o[c] += p[j] * vj[c];
      }
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* P, const float* q,
                        const float* k, const float* v, const AttnDims& d) {
  const int W = d.nh * d.dk;
  // Per head (heads touch disjoint columns of dk / dv, so they run in parallel).
  ops::par_rows(d.nh, (size_t)d.Tq * d.Tk * d.dk * 4, [&](int lo, int hi) {
    std::vector<float> dS(d.Tk);
    for (int h = lo; h < hi; h++)
      for (int i = 0; i < d.Tq; i++) {
        const float* p = P + ((size_t)h * d.Tq + i) * d.Tk;
        const float* doi = dout + (size_t)i * W + h * d.dk;
        const int nk = d.causal ? std::min(d.Tk, d.q0 + i + 1) : d.Tk;
        float dot = 0.f;
        for (int j = 0; j < nk; j++) {
          const float* vj = v + (size_t)j * W + h * d.dk;
          float s = 0.f;
          for (int c = 0; c < d.dk; c++) s += doi[c] * vj[c];
          dS[j] = s;
          dot += s * p[j];
          float* dvj = dv + (size_t)j * W + h * d.dk;
          for (int c = 0; c < d.dk; c++) dvj[c] += p[j] * doi[c];
        }
        float* dqi = dq + (size_t)i * W + h * d.dk;
        const float* qi = q + (size_t)i * W + h * d.dk;
        std::fill(dqi, dqi + d.dk, 0.f);
        for (int j = 0; j < nk; j++) {
          const float g = p[j] * (dS[j] - dot);
          const float* kj = k + (size_t)j * W + h * d.dk;
          float* dkj = dk + (size_t)j * W + h * d.dk;
          for (int c = 0; c < d.dk; c++) {
            dqi[c] += g * kj[c];
            dkj[c] += g * qi[c];
          }
        }
      }
  });
}

namespace {
constexpr float kC = 0.7978845608028654f; // sqrt(2 / pi)
inline float gelu_new(float x) { return 0.5f * x * (1.f + std::tanh(kC * (x + 0.044715f * x * x * x))); }
} // namespace

void gated_gelu_forward(float* h, const float* g, const float* u, size_t n) {
  ops::par_chunks(n, 4096, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++) h[i] = gelu_new(g[i]) * u[i];
  });
}

void gated_gelu_backward(float* dg, float* du, const float* dh, const float* g, const float* u, size_t n) {
  ops::par_chunks(n, 4096, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; i++) {
      const float x = g[i], t = std::tanh(kC * (x + 0.044715f * x * x * x));
      const float d = 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * kC * (1.f + 3.f * 0.044715f * x * x);
      const float gu = u[i], ddh = dh[i];
      du[i] = ddh * 0.5f * x * (1.f + t);
      dg[i] = ddh * gu * d;
    }
  });
}

} // namespace peft::t5
