// Sparse MoE forward / backward (Mixtral softmax top-k renormalised; MiniMax-M2 sigmoid + correction bias for the
// choice, unbiased scores renormalised as weights): tokens gathered per expert, each expert's w1 / w3 / w2 (+ LoRA)
// run on its rows only, outputs scatter-added with their weights in expert order (as transformers' index_add_).
// The router is frozen; its input gradient flows through the mixing weights (and the load-balancing loss,
// moe_aux.cc). Also MiniMax-M2's q/k RMSNorm.
#include "moe/moe.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include "error.h"
#include "moe/moe_aux.h"
#include "profile.h"

namespace peft {

const char* const EXPERT_NAMES[N_EXPERT_PROJ] = {"w1", "w2", "w3"};

namespace {

float* grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

kern::Compute frozen_mode(const LlamaModel& m, int n) { return n < 32 ? kern::Compute::F32 : m.compute; }

// The dropout stream of an expert's LoRA input: apart from the dense projections' (llama.cc) by the top bit.
uint64_t expert_stream(const AdapterStack& st, int l, int p) {
  return (1ull << 63) | (st.step << 32) | ((uint64_t)l << 16) | (uint64_t)p;
}

// y[n, out] = x W^T + the stack's LoRA on slot p (the trainable one's A-projection saved in lu when non-null).
void expert_forward(const LlamaModel& m, const AdapterStack& st, MoeWorkspace& ws, const kern::FrozenLinear& W, int l,
                    int p, float* y, const float* x, int n, float* lu, bool training) {
  const int in = m.proj_in(p), out = m.proj_out(p);
  {
    PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
    m.be().linear_forward(W, y, x, n, frozen_mode(m, n));
  }
  PEFT_PROFILE_SCOPE(lora);
  for (auto& [ad, s] : st.frozen)
    if (LoraWeights* w = ad->mod(l, p))
      m.be().lora_forward(y, grow(ws.tmp, (size_t)n * ad->r), x, w->A.data(), w->B.data(), n, in, out, ad->r, s);
  if (st.train)
    if (LoraWeights* w = st.train->mod(l, p)) {
      const float* xin = x;
      if (st.dropout > 0.f && training) {
        m.be().dropout_forward(grow(ws.xd, (size_t)n * in), x, (size_t)n * in, st.dropout, st.seed,
                               expert_stream(st, l, p));
        xin = ws.xd.data();
      }
      m.be().lora_forward(y, lu ? lu : grow(ws.tmp, (size_t)n * st.train->r), xin, w->A.data(), w->B.data(), n, in, out,
                          st.train->r, st.train_scale);
    }
}

// dx[n, in] += d/dx of expert_forward given dy; the trainable LoRA's gradients accumulate into grad.
void expert_backward(const LlamaModel& m, const AdapterStack& st, MoeWorkspace& ws, Adapter& grad,
                     const kern::FrozenLinear& W, int l, int p, float* dx, const float* dy, const float* x,
                     const float* lu, int n) {
  const int in = m.proj_in(p), out = m.proj_out(p);
  {
    PEFT_PROFILE_SCOPE(matmul_frozen_bwd);
    m.be().linear_backward_input(W, dx, dy, n, frozen_mode(m, n));
  }
  PEFT_PROFILE_SCOPE(lora);
  for (auto& [ad, s] : st.frozen)
    if (LoraWeights* w = ad->mod(l, p))
      m.be().lora_backward(nullptr, nullptr, dx, grow(ws.tmp, (size_t)n * ad->r), dy, x, nullptr, w->A.data(),
                           w->B.data(), n, in, out, ad->r, s, nullptr);
  if (!st.train) return;
  LoraWeights* w = st.train->mod(l, p);
  if (!w) return;
  LoraWeights* g = grad.mod(l, p);
  const int r = st.train->r;
  float* du = grow(ws.tmp, (size_t)n * r);
  if (st.dropout > 0.f) {
    const size_t k = (size_t)n * in;
    m.be().dropout_forward(grow(ws.xd, k), x, k, st.dropout, st.seed, expert_stream(st, l, p));
    m.be().zero(grow(ws.dxd, k), k);
    m.be().lora_backward(g->A.data(), g->B.data(), ws.dxd.data(), du, dy, ws.xd.data(), lu, w->A.data(), w->B.data(), n,
                         in, out, r, st.train_scale, nullptr);
    m.be().dropout_backward(dx, ws.dxd.data(), k, st.dropout, st.seed, expert_stream(st, l, p));
  } else {
    m.be().lora_backward(g->A.data(), g->B.data(), dx, du, dy, x, lu, w->A.data(), w->B.data(), n, in, out, r,
                         st.train_scale, nullptr);
  }
}

// Router: logits (in a.scores on entry) to scores, the top-k choice and the renormalised mixing weights.
void route(const ModelConfig& c, const MoeBlock& B, MoeLayerActs& a, int N) {
  const int E = c.num_experts, K = c.experts_per_tok;
  a.chosen.resize((size_t)N * K);
  a.weight.resize((size_t)N * K);
  std::vector<int> idx(E);
  std::vector<float> sel(E);
  for (int t = 0; t < N; t++) {
    float* s = a.scores.data() + (size_t)t * E;
    if (c.router_sigmoid) {
      for (int e = 0; e < E; e++) s[e] = 1.f / (1.f + std::exp(-s[e]));
    } else {
      float mx = s[0];
      for (int e = 1; e < E; e++) mx = std::max(mx, s[e]);
      float sum = 0.f;
      for (int e = 0; e < E; e++) sum += (s[e] = std::exp(s[e] - mx));
      for (int e = 0; e < E; e++) s[e] /= sum;
    }
    for (int e = 0; e < E; e++) sel[e] = s[e] + (B.bias.empty() ? 0.f : B.bias[e]);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + K, idx.end(),
                      [&](int x, int y) { return sel[x] > sel[y] || (sel[x] == sel[y] && x < y); });
    float tot = 0.f;
    for (int j = 0; j < K; j++) tot += s[idx[j]];
    for (int j = 0; j < K; j++) {
      a.chosen[(size_t)t * K + j] = idx[j];
      a.weight[(size_t)t * K + j] = s[idx[j]] / tot;
    }
  }
}

} // namespace

std::shared_ptr<MoeWorkspace> moe_workspace(const LlamaModel& m, bool training, const AdapterStack* st, int N) {
  const ModelConfig& c = m.cfg;
  if (c.num_experts == 0 && !c.qk_norm) return nullptr;
  auto ws = std::make_shared<MoeWorkspace>();
  ws->training = training;
  ws->layer.resize(training ? c.num_layers : 1);
  if (N <= 0) return ws;
  const size_t n = N, E = c.num_experts, NK = n * c.experts_per_tok, H = m.H(), I = m.I();
  bool expert_lora = false; // the trainable adapter on some expert linear: A-projections kept per routed row
  if (st && st->train && E)
    for (int l = 0; l < c.num_layers && !expert_lora; l++)
      for (int p = N_PROJ; p < m.n_slots() && !expert_lora; p++) expert_lora = st->train->mod(l, p) != nullptr;
  const size_t r = expert_lora ? st->train->r : 0, rmax = st ? st->max_rank() : 0;
  for (MoeLayerActs& a : ws->layer) {
    if (c.qk_norm) {
      a.qpre.reserve(n * m.Dq());
      a.kpre.reserve(n * m.Dkv());
      a.rstdq.reserve(n);
      a.rstdk.reserve(n);
    }
    if (!E) continue;
    a.scores.reserve(n * E);
    a.chosen.reserve(NK);
    a.weight.reserve(NK);
    a.offset.reserve(E + 1);
    a.slot.reserve(NK);
    a.g.reserve(NK * I);
    a.u.reserve(NK * I);
    a.y.reserve(NK * H);
    for (auto& v : a.lu) v.reserve(NK * r);
    if (training) { // the router load-balancing loss (moe_aux.cc), whether the trainer turns it on or not
      a.aux_p.reserve(n * E);
      a.aux_count.reserve(E);
      a.aux_psum.reserve(E);
    }
  }
  if (E) {
    ws->xg.reserve(NK * H);
    ws->h.reserve(NK * I);
    if (training) {
      for (auto* v : {&ws->dyg, &ws->dxg}) v->reserve(NK * H);
      for (auto* v : {&ws->dh, &ws->dg, &ws->du}) v->reserve(NK * I);
      ws->dlog.reserve(n * E);
      ws->dw.reserve(NK);
      ws->aux_count.reserve(E);
      ws->aux_psum.reserve(E);
      ws->row_mask.reserve(n);
      if (st && st->train && st->dropout > 0.f)
        for (auto* v : {&ws->xd, &ws->dxd}) v->reserve(NK * std::max(H, I));
    }
  }
  ws->tmp.reserve(std::max(NK * rmax, training && c.qk_norm ? n * std::max(m.Dq(), m.Dkv()) : 0));
  ws->planned = moe_workspace_bytes(*ws);
  return ws;
}

size_t moe_workspace_bytes(const MoeWorkspace& ws) {
  size_t b = 0;
  auto add = [&](const auto& v) { b += v.capacity() * sizeof(v[0]); };
  for (const MoeLayerActs& a : ws.layer) {
    for (const auto* v : {&a.scores, &a.weight, &a.g, &a.u, &a.y, &a.qpre, &a.kpre, &a.rstdq, &a.rstdk, &a.aux_p})
      add(*v);
    for (const auto* v : {&a.chosen, &a.offset, &a.slot}) add(*v);
    for (const auto& v : a.lu) add(v);
    add(a.aux_count);
    add(a.aux_psum);
  }
  for (const auto* v : {&ws.xg, &ws.h, &ws.dyg, &ws.dh, &ws.dg, &ws.du, &ws.dxg, &ws.dlog, &ws.xd, &ws.dxd, &ws.tmp,
                        &ws.dw, &ws.row_mask})
    add(*v);
  add(ws.aux_count);
  add(ws.aux_psum);
  return b;
}

void moe_forward(const LlamaModel& m, const AdapterStack& st, MoeWorkspace& ws, int l, const float* x, int N,
                 float* out, bool training) {
  const ModelConfig& c = m.cfg;
  const MoeBlock& B = *m.layers[l].moe;
  const int H = m.H(), I = m.I(), E = c.num_experts, K = c.experts_per_tok;
  const size_t NK = (size_t)N * K;
  MoeLayerActs& a = ws.at(l);
  {
    PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
    a.scores.resize((size_t)N * E);
    m.be().linear_forward(*B.gate, a.scores.data(), x, N, kern::Compute::F32); // router logits, always fp32
  }
  PEFT_PROFILE_SCOPE(elementwise);
  if (ws.record_logits) ws.record_logits->insert(ws.record_logits->end(), a.scores.begin(), a.scores.end());
  if (training && ws.aux_on) moe_aux_forward(c, ws, a, a.scores.data(), N); // load-balancing loss statistics
  route(c, B, a, N);
  if (ws.record) ws.record->insert(ws.record->end(), a.chosen.begin(), a.chosen.end());
  // assignments grouped by expert, tokens ascending within an expert
  a.offset.assign(E + 1, 0);
  for (size_t i = 0; i < NK; i++) a.offset[a.chosen[i] + 1]++;
  for (int e = 0; e < E; e++) a.offset[e + 1] += a.offset[e];
  a.slot.resize(NK);
  {
    std::vector<int32_t> cur(a.offset.begin(), a.offset.end() - 1);
    for (size_t i = 0; i < NK; i++) a.slot[cur[a.chosen[i]]++] = (int32_t)i;
  }
  float* xg = grow(ws.xg, NK * H);
  for (size_t i = 0; i < NK; i++) std::memcpy(xg + i * H, x + (size_t)(a.slot[i] / K) * H, H * sizeof(float));
  a.g.resize(NK * I);
  a.u.resize(NK * I);
  a.y.resize(NK * H);
  float* h = grow(ws.h, NK * I);
  int r = 0; // the trainable adapter's rank when it is on some expert linear of this layer
  if (st.train)
    for (int p = N_PROJ; p < m.n_slots() && !r; p++)
      if (st.train->mod(l, p)) r = st.train->r;
  for (int j = 0; j < N_EXPERT_PROJ; j++) a.lu[j].resize(r ? NK * r : 0);
  for (int e = 0; e < E; e++) {
    const int o = a.offset[e], n = a.offset[e + 1] - o;
    if (n == 0) continue;
    const auto& W = B.experts[e];
    auto lu = [&](int j) -> float* {
      return (st.train && st.train->mod(l, expert_slot(e, j))) ? a.lu[j].data() + (size_t)o * r : nullptr;
    };
    float* ge = a.g.data() + (size_t)o * I;
    float* ue = a.u.data() + (size_t)o * I;
    float* he = h + (size_t)o * I;
    expert_forward(m, st, ws, *W[X_W1], l, expert_slot(e, X_W1), ge, xg + (size_t)o * H, n, lu(X_W1), training);
    expert_forward(m, st, ws, *W[X_W3], l, expert_slot(e, X_W3), ue, xg + (size_t)o * H, n, lu(X_W3), training);
    m.be().swiglu_forward(he, ge, ue, (size_t)n * I, frozen_mode(m, n) == kern::Compute::BF16);
    expert_forward(m, st, ws, *W[X_W2], l, expert_slot(e, X_W2), a.y.data() + (size_t)o * H, he, n, lu(X_W2), training);
  }
  m.be().zero(out, (size_t)N * H);
  for (size_t i = 0; i < NK; i++) { // in expert order, as index_add_ per expert
    const float w = a.weight[a.slot[i]];
    float* dst = out + (size_t)(a.slot[i] / K) * H;
    const float* src = a.y.data() + i * H;
    for (int k = 0; k < H; k++) dst[k] += w * src[k];
  }
}

void moe_backward(const LlamaModel& m, const AdapterStack& st, MoeWorkspace& ws, Adapter& grad, int l, const float* x,
                  const float* dout, float* dx, int N) {
  const ModelConfig& c = m.cfg;
  const MoeBlock& B = *m.layers[l].moe;
  const int H = m.H(), I = m.I(), E = c.num_experts, K = c.experts_per_tok;
  const size_t NK = (size_t)N * K;
  MoeLayerActs& a = ws.at(l);
  if (a.slot.size() != NK) throw EngineError("E_INTERNAL", "moe_backward: no forward activations for this layer");
  ws.dw.resize(NK);
  float* dw = ws.dw.data();
  float* dyg = grow(ws.dyg, NK * H);
  float* xg = grow(ws.xg, NK * H);
  {
    PEFT_PROFILE_SCOPE(elementwise);
    for (size_t i = 0; i < NK; i++) {
      const int t = a.slot[i] / K;
      const float* d = dout + (size_t)t * H;
      const float* y = a.y.data() + i * H;
      const float w = a.weight[a.slot[i]];
      double dot = 0;
      for (int k = 0; k < H; k++) {
        dot += (double)d[k] * y[k];
        dyg[i * H + k] = w * d[k];
      }
      dw[a.slot[i]] = (float)dot;
      std::memcpy(xg + i * H, x + (size_t)t * H, H * sizeof(float));
    }
  }
  float* h = grow(ws.h, NK * I);
  float* dh = grow(ws.dh, NK * I);
  float* dg = grow(ws.dg, NK * I);
  float* du = grow(ws.du, NK * I);
  float* dxg = grow(ws.dxg, NK * H);
  const int r = st.train ? st.train->r : 0;
  for (int e = 0; e < E; e++) {
    const int o = a.offset[e], n = a.offset[e + 1] - o;
    if (n == 0) continue;
    const auto& W = B.experts[e];
    auto lu = [&](int j) -> const float* {
      return (st.train && st.train->mod(l, expert_slot(e, j))) ? a.lu[j].data() + (size_t)o * r : nullptr;
    };
    const size_t oi = (size_t)o * I, oh = (size_t)o * H, ni = (size_t)n * I;
    const bool fast = frozen_mode(m, n) == kern::Compute::BF16;
    {
      PEFT_PROFILE_SCOPE(elementwise);
      m.be().swiglu_forward(h + oi, a.g.data() + oi, a.u.data() + oi, ni, fast); // recomputed
      m.be().zero(dh + oi, ni);
      m.be().zero(dxg + oh, (size_t)n * H);
    }
    expert_backward(m, st, ws, grad, *W[X_W2], l, expert_slot(e, X_W2), dh + oi, dyg + oh, h + oi, lu(X_W2), n);
    {
      PEFT_PROFILE_SCOPE(elementwise);
      m.be().swiglu_backward(dg + oi, du + oi, dh + oi, a.g.data() + oi, a.u.data() + oi, ni, fast);
    }
    expert_backward(m, st, ws, grad, *W[X_W1], l, expert_slot(e, X_W1), dxg + oh, dg + oi, xg + oh, lu(X_W1), n);
    expert_backward(m, st, ws, grad, *W[X_W3], l, expert_slot(e, X_W3), dxg + oh, du + oi, xg + oh, lu(X_W3), n);
  }
  PEFT_PROFILE_SCOPE(elementwise);
  m.be().zero(dx, (size_t)N * H);
  for (size_t i = 0; i < NK; i++) {
    float* d = dx + (size_t)(a.slot[i] / K) * H;
    const float* s = dxg + i * H;
    for (int k = 0; k < H; k++) d[k] += s[k];
  }
  // Through the mixing weights w_j = s_j / S (S = sum of the chosen scores) into the router logits, then x.
  float* dlog = grow(ws.dlog, (size_t)N * E);
  m.be().zero(dlog, (size_t)N * E);
  for (int t = 0; t < N; t++) {
    const float* s = a.scores.data() + (size_t)t * E;
    const int32_t* ch = a.chosen.data() + (size_t)t * K;
    const float* w = a.weight.data() + (size_t)t * K;
    const float* g = dw + (size_t)t * K;
    double S = 0, wg = 0;
    for (int j = 0; j < K; j++) S += s[ch[j]], wg += (double)w[j] * g[j];
    float* dl = dlog + (size_t)t * E;
    if (c.router_sigmoid) {
      for (int j = 0; j < K; j++) {
        const double ds = (g[j] - wg) / S, sj = s[ch[j]];
        dl[ch[j]] = (float)(ds * sj * (1.0 - sj));
      }
    } else {
      double inner = 0; // sum over the chosen of p_j ds_j
      std::vector<double> ds(K);
      for (int j = 0; j < K; j++) ds[j] = (g[j] - wg) / S, inner += s[ch[j]] * ds[j];
      for (int e = 0; e < E; e++) dl[e] = (float)(-s[e] * inner);
      for (int j = 0; j < K; j++) dl[ch[j]] += (float)(s[ch[j]] * ds[j]);
    }
  }
  moe_aux_backward(c, ws, a, dlog, N);                                    // the load-balancing loss's gradient, when on
  m.be().linear_backward_input(*B.gate, dx, dlog, N, kern::Compute::F32); // dx += dlog gate
}

void qk_norm_forward(const LlamaModel& m, MoeWorkspace& ws, int l, float* q, float* k, int N) {
  PEFT_PROFILE_SCOPE(elementwise);
  MoeLayerActs& a = ws.at(l);
  const LlamaLayer& L = m.layers[l];
  const float eps = (float)m.cfg.rms_norm_eps;
  a.qpre.assign(q, q + (size_t)N * m.Dq());
  a.kpre.assign(k, k + (size_t)N * m.Dkv());
  a.rstdq.resize(N);
  a.rstdk.resize(N);
  m.be().rmsnorm_forward(q, a.rstdq.data(), a.qpre.data(), L.q_norm.data(), N, m.Dq(), eps);
  m.be().rmsnorm_forward(k, a.rstdk.data(), a.kpre.data(), L.k_norm.data(), N, m.Dkv(), eps);
}

void qk_norm_backward(const LlamaModel& m, MoeWorkspace& ws, int l, float* dq, float* dk, int N) {
  PEFT_PROFILE_SCOPE(elementwise);
  MoeLayerActs& a = ws.at(l);
  const LlamaLayer& L = m.layers[l];
  for (int which = 0; which < 2; which++) {
    const int C = which ? m.Dkv() : m.Dq();
    float* d = which ? dk : dq;
    float* t = grow(ws.tmp, (size_t)N * C);
    m.be().zero(t, (size_t)N * C);
    m.be().rmsnorm_backward(t, d, which ? a.kpre.data() : a.qpre.data(), which ? L.k_norm.data() : L.q_norm.data(),
                            which ? a.rstdk.data() : a.rstdq.data(), N, C);
    m.be().copy_rows(d, t, N, C);
  }
}

} // namespace peft
