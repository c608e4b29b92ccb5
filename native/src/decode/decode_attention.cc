// Decode-row attention (see decode_attention.h): per (row, head) task, scores with 16-lane partial dot products over
// the head dimension (a fixed reduction order), the reference softmax order (exp(x - max), normalised by the sum),
// then the probability-weighted sum of the values.
#include "decode/decode_attention.h"
#include <algorithm>
#include <cmath>
#include <vector>
#include "kernels/kernels.h"

namespace peft::decode {

namespace {

inline float dot(const float* a, const float* b, int n) {
  float acc[16] = {};
  int d = 0;
  for (; d + 16 <= n; d += 16)
    for (int l = 0; l < 16; l++) acc[l] += a[d + l] * b[d + l];
  for (int l = 0; d + l < n; l++) acc[l] += a[d + l] * b[d + l];
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; l++) acc[l] += acc[l + w];
  return acc[0];
}

} // namespace

void attention_rows(const AttnRow* rows, int n, int nh, int nkv, int hd, int window) {
  if (n <= 0) return;
  const int group = nh / nkv, Dkv = nkv * hd;
  const float scale = 1.f / std::sqrt((float)hd);
  kern::parallel_for(n * nh, [&](int b, int e) {
    thread_local std::vector<float> S;
    for (int task = b; task < e; task++) {
      const AttnRow& r = rows[task / nh];
      const int h = task % nh, kh = h / group;
      const int lo = window > 0 ? std::max(0, r.pos - window + 1) : 0, nk = r.pos + 1 - lo;
      if ((int)S.size() < nk) S.resize(nk);
      const float* q = r.q + (size_t)h * hd;
      const float* kc = r.kc + (size_t)lo * Dkv + (size_t)kh * hd;
      const float* vc = r.vc + (size_t)lo * Dkv + (size_t)kh * hd;
      float mx = -INFINITY;
      for (int j = 0; j < nk; j++) {
        S[j] = dot(q, kc + (size_t)j * Dkv, hd) * scale;
        mx = std::max(mx, S[j]);
      }
      float sum = 0.f;
      for (int j = 0; j < nk; j++) sum += S[j] = std::exp(S[j] - mx);
      const float inv = 1.f / sum;
      float* o = r.out + (size_t)h * hd;
      std::fill(o, o + hd, 0.f);
      for (int j = 0; j < nk; j++) {
        const float p = S[j] * inv;
        const float* v = vc + (size_t)j * Dkv;
        for (int d = 0; d < hd; d++) o[d] += p * v[d];
      }
    }
  });
}

} // namespace peft::decode
