// Router load-balancing loss (transformers' load_balancing_loss_func for Mixtral and MiniMax-M2): per layer softmax
// probabilities, top-k assignment counts and probability sums over the non-padding rows; the loss over all layers;
// its gradient into each layer's router logits (through the probabilities only, the counts being constant).
#include "moe/moe_aux.h"
#include <algorithm>
#include <cmath>
#include <numeric>

namespace peft {

void moe_aux_forward(const ModelConfig& c, const MoeWorkspace& ws, MoeLayerActs& a, const float* logits, int N) {
  const int E = c.num_experts, K = c.experts_per_tok;
  a.aux_p.resize((size_t)N * E);
  a.aux_count.assign(E, 0.0);
  a.aux_psum.assign(E, 0.0);
  a.aux_rows = 0;
  std::vector<int> idx(E);
  for (int t = 0; t < N; t++) {
    const float* z = logits + (size_t)t * E;
    float* p = a.aux_p.data() + (size_t)t * E;
    float mx = z[0];
    for (int e = 1; e < E; e++) mx = std::max(mx, z[e]);
    float sum = 0.f;
    for (int e = 0; e < E; e++) sum += (p[e] = std::exp(z[e] - mx));
    for (int e = 0; e < E; e++) p[e] /= sum;
    const double w = ws.row_mask.empty() ? 1.0 : ws.row_mask[t];
    if (w == 0.0) continue;
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + K, idx.end(),
                      [&](int x, int y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
    for (int j = 0; j < K; j++) a.aux_count[idx[j]] += w;
    for (int e = 0; e < E; e++) a.aux_psum[e] += w * p[e];
    a.aux_rows += w;
  }
}

double moe_aux_loss(const ModelConfig& c, MoeWorkspace& ws) {
  const int E = c.num_experts;
  ws.aux_count.assign(E, 0.0);
  ws.aux_psum.assign(E, 0.0);
  ws.aux_rows = 0;
  for (const MoeLayerActs& a : ws.layer) {
    if (a.aux_count.size() != (size_t)E) continue;
    for (int e = 0; e < E; e++) ws.aux_count[e] += a.aux_count[e], ws.aux_psum[e] += a.aux_psum[e];
    ws.aux_rows += a.aux_rows;
  }
  if (ws.aux_rows == 0) return 0.0;
  double s = 0;
  for (int e = 0; e < E; e++) s += (ws.aux_count[e] / ws.aux_rows) * (ws.aux_psum[e] / ws.aux_rows);
  return s * E;
}

void moe_aux_backward(const ModelConfig& c, const MoeWorkspace& ws, const MoeLayerActs& a, float* dlog, int N) {
  const int E = c.num_experts;
  if (ws.aux_rows == 0 || ws.aux_grad == 0 || a.aux_p.size() != (size_t)N * E) return;
  std::vector<double> g(E); // d(scaled aux)/d(p_te) of a counted row
  const double k = ws.aux_grad * E / (ws.aux_rows * ws.aux_rows);
  for (int e = 0; e < E; e++) g[e] = k * ws.aux_count[e];
  for (int t = 0; t < N; t++) {
    const double w = ws.row_mask.empty() ? 1.0 : ws.row_mask[t];
    if (w == 0.0) continue;
    const float* p = a.aux_p.data() + (size_t)t * E;
    double pg = 0;
    for (int e = 0; e < E; e++) pg += p[e] * g[e];
    float* dl = dlog + (size_t)t * E;
    for (int e = 0; e < E; e++) dl[e] += (float)(w * p[e] * (g[e] - pg));
  }
}

} // namespace peft
