// Llama-family forward and backward: embeddings, RMSNorm, q/k/v/o (+bias) with RoPE and GQA causal attention
// (optional sliding window), SwiGLU MLP, final norm, with stacked LoRA adapters on any projection. Frozen base: only
// input gradients flow through it; parameter gradients go to the trainable adapter. Every op runs through the model's
// Backend (backend/backend.h; the CPU backend today). Loading lives in llama_load.cc; each op family is timed with
// PEFT_PROFILE_SCOPE (profile.h).
#include "llama.h"
#include "llama_blocks.h"
#include <cmath>
#include "error.h"
#include "moe/moe.h"
#include "profile.h"

namespace peft {

const char* const PROJ_NAMES[N_PROJ] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
const char* const PROJ_PARENT[N_PROJ] = {"self_attn", "self_attn", "self_attn", "self_attn", "mlp", "mlp", "mlp"};

float Adapter::scaling() const { return (float)(rslora ? alpha / std::sqrt((double)r) : alpha / r); }

size_t Adapter::params() const {
  size_t n = 0;
  for (auto& l : mods)
    for (auto& p : l)
      if (p) n += p->A.size() + p->B.size();
  return n;
}

std::shared_ptr<Adapter> make_adapter(const LlamaModel& m, int r, double alpha, bool rslora, const bool targets[N_PROJ],
                                      const bool* expert_targets) {
  auto a = std::make_shared<Adapter>();
  a->r = r;
  a->alpha = alpha;
  a->rslora = rslora;
  a->gpt2 = m.gpt2();
  a->mods.resize(m.cfg.num_layers);
  for (int l = 0; l < m.cfg.num_layers; l++) {
    a->mods[l].resize(m.n_slots());
    for (int p = 0; p < m.n_slots(); p++)
      if (p < N_PROJ ? targets[p] : (expert_targets && expert_targets[(p - N_PROJ) % 3])) {
        auto w = std::make_unique<LoraWeights>();
        w->A.assign((size_t)r * m.proj_in(p), 0.f);
        w->B.assign((size_t)m.proj_out(p) * r, 0.f);
        a->mods[l][p] = std::move(w);
      }
  }
  return a;
}

std::shared_ptr<Adapter> zeros_like(const Adapter& a) {
  auto z = std::make_shared<Adapter>();
  z->r = a.r;
  z->alpha = a.alpha;
  z->rslora = a.rslora;
  z->gpt2 = a.gpt2;
  z->mods.resize(a.mods.size());
  for (size_t l = 0; l < a.mods.size(); l++) {
    z->mods[l].resize(a.mods[l].size());
    for (size_t p = 0; p < a.mods[l].size(); p++)
      if (a.mods[l][p]) {
        auto w = std::make_unique<LoraWeights>();
        w->A.assign(a.mods[l][p]->A.size(), 0.f);
        w->B.assign(a.mods[l][p]->B.size(), 0.f);
        z->mods[l][p] = std::move(w);
      }
  }
  return z;
}

int AdapterStack::max_rank() const {
  int r = train ? train->r : 0;
  for (auto& f : frozen) r = std::max(r, f.first->r);
  return r;
}

void KVCache::init(const LlamaModel& m, int max_len_) {
  max_len = max_len_;
  len = 0;
  k.assign((size_t)m.cfg.num_layers * max_len * m.Dkv(), 0.f);
  v.assign((size_t)m.cfg.num_layers * max_len * m.Dkv(), 0.f);
}

void Workspace::plan(const LlamaModel& m, const AdapterStack& st, int B_, int T_, bool training_, bool recompute_,
                     size_t act_budget) {
  B = B_, T = T_, N = B * T, training = training_, recompute = recompute_;
  const ModelConfig& c = m.cfg;
  const size_t n = N, H = m.H(), Dq = m.Dq(), Dkv = m.Dkv(), I = m.I(), L = c.num_layers;
  const size_t rmax = st.max_rank(), maxin = std::max(H, std::max(I, Dq));
  size_t lu = 0;
  if (st.train)
    for (int p = 0; p < N_PROJ; p++)
      if (st.train->mod(0, p)) lu += n * st.train->r;
  // bf16-compute training keeps the matmul outputs the backward needs (q, k, v, attention output, gate, up) in bf16,
  // as autocast does: every layer's copy is bf16 in the activation arena, converted into one shared set of fp32
  // scratch buffers when the layer runs (forward) or is differentiated (backward).
  const bool gu16 = training && m.compute == kern::Compute::BF16 && N >= 32 && !m.gpt2(); // gpt2 keeps fp32
  const bool g_buf = !m.gpt2(); // gpt2's MLP has no gate: c_fc's output is kept in `u`
  const auto words = [&](size_t k) { return gu16 ? (k + 1) / 2 : k; }; // floats holding k values of the kept type
  const size_t per_layer =
      n * 4 + words(n * Dq) * 2 + words(n * Dkv) * 2 + (size_t)B * c.num_heads * T + n * H + words(n * I) * 2 + lu;
  if (!training)
    kept = 0;
  else if (!recompute)
    kept = (int)L;
  else {
    const size_t slots = act_budget / (per_layer * sizeof(float));
    kept = slots >= L ? (int)L : (int)std::max<size_t>(slots, 1) - 1;
  }
  const size_t nlayers = kept == (int)L ? L : kept + 1;
  acts.plan(per_layer * nlayers);
  layer.assign(nlayers, LayerActs{});
  for (auto& a : layer) {
    a.rstd1 = acts.take(n);
    a.mean1 = acts.take(n);
    a.mean2 = acts.take(n);
    a.lse = acts.take((size_t)B * c.num_heads * T);
    a.x2 = acts.take(n * H);
    a.rstd2 = acts.take(n);
    if (gu16) {
      auto half = [&](size_t k) { return reinterpret_cast<uint16_t*>(acts.take(words(k))); };
      a.q16 = half(n * Dq);
      a.k16 = half(n * Dkv);
      a.v16 = half(n * Dkv);
      a.att16 = half(n * Dq);
      a.g16 = half(n * I);
      a.u16 = half(n * I);
    } else {
      a.q = acts.take(n * Dq);
      a.k = acts.take(n * Dkv);
      a.v = acts.take(n * Dkv);
      a.att = acts.take(n * Dq);
      a.g = g_buf ? acts.take(n * I) : nullptr;
      a.u = acts.take(n * I);
    }
    for (int p = 0; p < N_PROJ; p++) a.lu[p] = (st.train && st.train->mod(0, p)) ? acts.take(n * st.train->r) : nullptr;
  }
  // Residual stream: every layer input when training (backward needs them), else two ping-pong buffers.
  const size_t nres = training ? L + 1 : 2;
  resid_arena.plan(nres * n * H + n * H + n * 2);
  std::vector<float*> bufs(nres);
  for (auto& b : bufs) b = resid_arena.take(n * H);
  resid.resize(L + 1);
  for (size_t l = 0; l <= L; l++) resid[l] = training ? bufs[l] : bufs[l % 2];
  lnf = resid_arena.take(n * H);
  rstdf = resid_arena.take(n);
  meanf = resid_arena.take(n);
  const bool drop = training && st.train && st.dropout > 0.f;
  // The MLP region (h, gate / up in fp32, their gradients) is idle while the loss runs, so it also serves as the
  // bf16 cross-entropy's working memory (logits of 256 rows): sized for whichever is larger.
  const size_t mlp = n * I * (1 + (gu16 ? 2 : 0) + (training ? (gu16 ? 1 : 3) : 0));
  const size_t ce =
      training && m.compute == kern::Compute::BF16 ? m.be().cross_entropy_bf16_work_floats(N, H, c.vocab_size) : 0;
  const size_t region = std::max(mlp, ce);
  size_t sc = n * rmax * 2 + n * rmax * 3 + (training ? n * rmax * 3 + maxin * rmax : 0) + n * H + region +
              (gu16 ? n * Dq * 2 + n * Dkv * 2 : 0);
  if (training) sc += n * H * 3 + n * Dq * 2 + n * Dkv * 2 + (drop ? n * maxin * 2 : 0);
  if (m.gpt2()) sc += n * Dq * 3; // the fused c_attn output / gradient
  scratch.plan(sc);
  lora_u = scratch.take(n * rmax);
  lora_du = scratch.take(n * rmax);
  lora_ucat = scratch.take(n * rmax * 3);
  lora_ducat = training ? scratch.take(n * rmax * 3) : nullptr;
  lora_dAT = training ? scratch.take(maxin * rmax) : nullptr;
  ln = scratch.take(n * H);
  qkv = m.gpt2() ? scratch.take(n * Dq * 3) : nullptr;
  if (training) {
    dres = scratch.take(n * H);
    dln = scratch.take(n * H);
    tmp_out = scratch.take(n * H);
    dq = scratch.take(n * Dq);
    datt = scratch.take(n * Dq);
    dk = scratch.take(n * Dkv);
    dv = scratch.take(n * Dkv);
  } else {
    dres = dln = tmp_out = dq = datt = dk = dv = nullptr;
  }
  xdrop = drop ? scratch.take(n * maxin) : nullptr;
  dxdrop = drop ? scratch.take(n * maxin) : nullptr;
  float* qs = gu16 ? scratch.take(n * Dq) : nullptr; // the fp32 working copies of the bf16-kept tensors
  float* ks = gu16 ? scratch.take(n * Dkv) : nullptr;
  float* vs = gu16 ? scratch.take(n * Dkv) : nullptr;
  float* atts = gu16 ? scratch.take(n * Dq) : nullptr;
  ce_work = scratch.take(region);
  ce_work_floats = ce ? region : 0;
  float* r = ce_work;
  auto next = [&](size_t k) {
    float* p = r;
    r += k;
    return p;
  };
  h = next(n * I);
  gs = gu16 ? next(n * I) : nullptr;
  us = gu16 ? next(n * I) : nullptr;
  if (training) {
    dh = next(n * I);
    // with gate / up in fp32 scratch, swiglu_backward writes their gradients over them (elementwise, in place)
    dg = gu16 ? gs : next(n * I);
    du = gu16 ? us : next(n * I);
  } else {
    dg = du = dh = nullptr;
  }
  if (gu16)
    for (auto& a : layer) a.q = qs, a.k = ks, a.v = vs, a.att = atts, a.g = gs, a.u = us;
  moe = moe_workspace(m, training, &st, N);
  side_bytes = moe ? moe->planned : 0;
}

// Compute mode of the frozen projections for N rows: below 32 rows (decoding, tiny batches) a matmul is a
// memory-bound matrix-vector product where bf16 inputs gain nothing and oneDNN's per-call cost dominates, so those
// run in fp32 (more accurate; one bench run here decoded nf4 at 3.8 tokens/s in bf16 against 22.4 in fp32).
static kern::Compute frozen_mode(const LlamaModel& m, int N) { return N < 32 ? kern::Compute::F32 : m.compute; }

// bf16 compute also takes the faster element-wise and LoRA kernels (vectorised exp, another summation order for
// dA); fp32 compute keeps the reference numerics.
static bool fast_math(const LlamaModel& m, int N) { return frozen_mode(m, N) == kern::Compute::BF16; }

// SwiGLU takes the active ISA's vectorised exp (kernels/simd.h, ~1-2 ulp) on training / prompt shapes in both compute
// modes: the std::exp loop of the x86-64-v2 common code made it ~5% of an fp32 step on AVX2.
static bool vector_swiglu(int N) { return N >= 32; }

static uint64_t dropout_stream(const AdapterStack& st, int l, int p) { return (st.step * 4096 + (uint64_t)l) * 8 + p; }

// y[N, out] = x W^T (+b) + frozen LoRAs + trainable LoRA (its A-projection saved in lu when non-null).
// Whether projection p of layer l runs its trainable LoRA alone with the frozen product (no frozen adapter on it, no
// dropout mask): then both go to the backend as one call, the LoRA rows riding in the frozen product's pool region.
static bool lora_rides_along(const AdapterStack& st, const Workspace& ws, int l, int p) {
  if (!st.train || !st.train->mod(l, p) || (st.dropout > 0.f && ws.training)) return false;
  for (auto& [ad, s] : st.frozen)
    if (ad->mod(l, p)) return false;
  return true;
}

static void project_forward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, int l, int p, float* y,
                            const float* x, int N, float* lu) {
  const int in = m.proj_in(p), out = m.proj_out(p);
  if (lora_rides_along(st, ws, l, p)) {
    PEFT_PROFILE_SCOPE(matmul_frozen_fwd); // y = x W^T + s (x A^T) B^T, one region
    const LoraWeights* w = st.train->mod(l, p);
    m.be().linear_lora_forward(*m.layers[l].proj[p], y, x, N, frozen_mode(m, N), lu ? lu : ws.lora_u, w->A.data(),
                               w->B.data(), st.train->r, st.train_scale);
    return;
  }
  {
    PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
    m.be().linear_forward(*m.layers[l].proj[p], y, x, N, frozen_mode(m, N));
  }
  PEFT_PROFILE_SCOPE(lora);
  for (auto& [ad, s] : st.frozen)
    if (LoraWeights* w = ad->mod(l, p))
      m.be().lora_forward(y, ws.lora_u, x, w->A.data(), w->B.data(), N, in, out, ad->r, s);
  if (st.train)
    if (LoraWeights* w = st.train->mod(l, p)) {
      const float* xin = x;
      if (st.dropout > 0.f && ws.training) {
        m.be().dropout_forward(ws.xdrop, x, (size_t)N * in, st.dropout, st.seed, dropout_stream(st, l, p));
        xin = ws.xdrop;
      }
      m.be().lora_forward(y, lu ? lu : ws.lora_u, xin, w->A.data(), w->B.data(), N, in, out, st.train->r,
                          st.train_scale);
    }
}

// dx[N, in] += d/dx of project_forward applied to dy; trainable LoRA gradients accumulate into grad.
static void project_backward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, Adapter& grad, int l, int p,
                             float* dx, const float* dy, const float* x, const float* lu, int N) {
  const int in = m.proj_in(p), out = m.proj_out(p);
  if (lora_rides_along(st, ws, l, p) && st.dropout == 0.f) {
    const LoraWeights* w = st.train->mod(l, p);
    LoraWeights* g = grad.mod(l, p);
    {
      PEFT_PROFILE_SCOPE(matmul_frozen_bwd); // dx += dy W + (s dy B) A, one region
      m.be().linear_lora_backward_input(*m.layers[l].proj[p], dx, dy, N, frozen_mode(m, N), ws.lora_du, w->A.data(),
                                        w->B.data(), st.train->r, st.train_scale);
    }
    PEFT_PROFILE_SCOPE(lora);
    m.be().lora_weight_grads(g->A.data(), g->B.data(), ws.lora_du, dy, x, lu, N, in, out, st.train->r, st.train_scale,
                             ws.lora_dAT);
    return;
  }
  {
    PEFT_PROFILE_SCOPE(matmul_frozen_bwd);
    m.be().linear_backward_input(*m.layers[l].proj[p], dx, dy, N, frozen_mode(m, N));
  }
  PEFT_PROFILE_SCOPE(lora);
  for (auto& [ad, s] : st.frozen)
    if (LoraWeights* w = ad->mod(l, p))
      m.be().lora_backward(nullptr, nullptr, dx, ws.lora_du, dy, x, nullptr, w->A.data(), w->B.data(), N, in, out,
                           ad->r, s, nullptr);
  if (st.train)
    if (LoraWeights* w = st.train->mod(l, p)) {
      LoraWeights* g = grad.mod(l, p);
      const int r = st.train->r;
      if (st.dropout > 0.f) {
        const size_t n = (size_t)N * in;
        m.be().dropout_forward(ws.xdrop, x, n, st.dropout, st.seed, dropout_stream(st, l, p));
        m.be().zero(ws.dxdrop, n);
        m.be().lora_backward(g->A.data(), g->B.data(), ws.dxdrop, ws.lora_du, dy, ws.xdrop, lu, w->A.data(),
                             w->B.data(), N, in, out, r, st.train_scale, ws.lora_dAT);
        m.be().dropout_backward(dx, ws.dxdrop, n, st.dropout, st.seed, dropout_stream(st, l, p));
      } else {
        m.be().lora_backward(g->A.data(), g->B.data(), dx, ws.lora_du, dy, x, lu, w->A.data(), w->B.data(), N, in, out,
                             r, st.train_scale, ws.lora_dAT);
      }
    }
}

// Projections that read the same input (q/k/v on ln1, gate/up on ln2; o and down as groups of one) run their
// trainable LoRA in bf16 compute through ops/lora_bf16.cc: the input converted to bf16 once, one u = x [A_q; A_k;
// A_v]^T product for the group, and u riding along in each frozen matmul as extra K (y = [x | u] [W | sB]^T); in the
// backward one matmul per group over the stacked weights and A rows (dx = [dy_q | dy_k | dy_v | du] [W_q; W_k; W_v;
// A]) and one du_cat^T x. With LoRA dropout each projection's A side runs on its own dropped input (u_j = dropout_j(x)
// A_j^T; dA_j and the masked input gradient per projection) while the frozen products stay grouped. Used when every
// projection of the group is trained; otherwise each projection runs on its own.
static bool can_fuse_group(const LlamaModel& m, const AdapterStack& st, int l, const int* ps, int g, int N) {
  if (!fast_math(m, N) || !st.train) return false;
  for (int j = 0; j < g; j++)
    if (!st.train->mod(l, ps[j])) return false;
  return true;
}

// The group's trainable LoRA weights (gradients when grad is given) as an ops::LoraGroup.
struct GroupWeights {
  int outs[3];
  const float* A[3];
  const float* B[3];
  ops::LoraGroup view;
  GroupWeights(const LlamaModel& m, const Adapter& a, float scale, int l, const int* ps, int g) {
    for (int j = 0; j < g; j++) {
      outs[j] = m.proj_out(ps[j]);
      A[j] = a.mod(l, ps[j])->A.data();
      B[j] = a.mod(l, ps[j])->B.data();
    }
    view = ops::LoraGroup{g, a.r, m.proj_in(ps[0]), outs, A, B, scale};
  }
};

// x [N, in] to bf16 into rows of stride ld of a reused per-thread buffer, counted in family f (call it outside other
// profile scopes); the columns after `in` are left for the caller.
static uint16_t* activation_bf16(const LlamaModel& m, const float* x, int N, int in, int ld, std::vector<uint16_t>& buf,
                                 prof::Family f) {
  prof::Scope scope(f);
  if (buf.size() < (size_t)N * ld) buf.resize((size_t)N * ld);
  m.be().rows_to_bf16(x, in, N, in, buf.data(), ld);
  return buf.data();
}

// bf16(dropout_j(x)) [N, in] for projection p of layer l (the same counter-based mask the fp32 path draws).
static const uint16_t* dropped_bf16(const LlamaModel& m, const AdapterStack& st, int l, int p, const float* x, int N,
                                    int in, std::vector<uint16_t>& buf) {
  if (buf.size() < (size_t)N * in) buf.resize((size_t)N * in);
  m.be().dropout_forward_bf16(buf.data(), x, (size_t)N * in, st.dropout, st.seed, dropout_stream(st, l, p));
  return buf.data();
}

void group_forward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, int l, const int* ps, int g,
                   float* const* ys, const float* x, int N, float* const* lus) {
  if (!can_fuse_group(m, st, l, ps, g, N)) {
    for (int j = 0; j < g; j++) project_forward(m, st, ws, l, ps[j], ys[j], x, N, lus[j]);
    return;
  }
  const int in = m.proj_in(ps[0]), gr = g * st.train->r;
  GroupWeights gw(m, *st.train, st.train_scale, l, ps, g);
  thread_local std::vector<uint16_t> xbuf;
  uint16_t* xa16 = activation_bf16(m, x, N, in, in + gr, xbuf, prof::matmul_frozen_fwd); // [x | u_cat] in bf16
  {
    PEFT_PROFILE_SCOPE(lora);
    if (st.dropout > 0.f && ws.training) {
      thread_local std::vector<uint16_t> dbuf[3];
      const uint16_t* xd16[3];
      for (int j = 0; j < g; j++) xd16[j] = dropped_bf16(m, st, l, ps[j], x, N, in, dbuf[j]);
      m.be().lora_group_project_dropout_bf16(gw.view, xa16, xd16, N, ws.lora_ucat, lus);
    } else {
      m.be().lora_group_project_bf16(gw.view, xa16, N, ws.lora_ucat, lus);
    }
  }
  for (int j = 0; j < g; j++) {
    const int p = ps[j], out = m.proj_out(p);
    const uint16_t* E;
    {
      PEFT_PROFILE_SCOPE(lora);
      E = m.be().lora_extra_cols_bf16(gw.view, j);
    }
    {
      PEFT_PROFILE_SCOPE(matmul_frozen_fwd); // y = x W^T + s u B^T in one matmul
      m.be().linear_forward_bf16_aug(*m.layers[l].proj[p], ys[j], xa16, N, E, gr);
    }
    PEFT_PROFILE_SCOPE(lora);
    for (auto& [ad, s] : st.frozen)
      if (LoraWeights* w = ad->mod(l, p))
        m.be().lora_forward(ys[j], ws.lora_u, x, w->A.data(), w->B.data(), N, in, out, ad->r, s);
  }
}

// dx[N, in] = the input gradient of the group (overwritten); trainable LoRA gradients accumulate into grad.
void group_backward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, Adapter& grad, int l, const int* ps,
                    int g, float* dx, const float* const* dys, const float* x, const float* const* lus, int N,
                    const uint16_t* x16_given) {
  const int in = m.proj_in(ps[0]);
  if (!x && !(x16_given && can_fuse_group(m, st, l, ps, g, N) && st.frozen.empty()))
    throw EngineError("E_INTERNAL", "group_backward: a bf16-only input needs the fused path and no frozen adapters");
  if (!can_fuse_group(m, st, l, ps, g, N)) {
    {
      PEFT_PROFILE_SCOPE(elementwise);
      m.be().zero(dx, (size_t)N * in);
    }
    for (int j = 0; j < g; j++) project_backward(m, st, ws, grad, l, ps[j], dx, dys[j], x, lus[j], N);
    return;
  }
  const int r = st.train->r, gr = g * r;
  const bool drop = st.dropout > 0.f; // each projection's LoRA input is its own dropped x: its A side is not folded
  GroupWeights gw(m, *st.train, st.train_scale, l, ps, g);
  float* ducat = ws.lora_ducat;
  int col[3], tot = 0;
  for (int j = 0; j < g; j++) col[j] = tot, tot += m.proj_out(ps[j]);
  const int lda = tot + (drop ? 0 : gr);
  thread_local std::vector<uint16_t> dybuf, xbuf;
  if (dybuf.size() < (size_t)N * lda) dybuf.resize((size_t)N * lda);
  uint16_t* dya16 = dybuf.data(); // [dy_0 | ... | dy_{g-1} | du_0 | ... | du_{g-1}] in bf16 (no du without dropout)
  {
    PEFT_PROFILE_SCOPE(matmul_frozen_bwd);
    for (int j = 0; j < g; j++)
      m.be().rows_to_bf16(dys[j], m.proj_out(ps[j]), N, m.proj_out(ps[j]), dya16 + col[j], lda);
  }
  const uint16_t* A16 = nullptr;
  {
    PEFT_PROFILE_SCOPE(lora);
    for (int j = 0; j < g; j++)
      m.be().lora_out_backward_bf16(gw.view, j, dya16 + col[j], lda, lus[j], N, grad.mod(l, ps[j])->B.data(), ducat,
                                    drop ? nullptr : dya16 + tot + j * r, lda);
    if (!drop) A16 = m.be().lora_A_bf16(gw.view);
  }
  {
    PEFT_PROFILE_SCOPE(matmul_frozen_bwd); // dx = sum_j dy_j W_j (+ du_cat A_cat without dropout) in one matmul
    const kern::FrozenLinear* ls[3];
    for (int j = 0; j < g; j++) ls[j] = m.layers[l].proj[ps[j]].get();
    m.be().linear_backward_input_group_bf16(ls, g, dx, dya16, N, A16, drop ? 0 : gr, false);
  }
  {
    PEFT_PROFILE_SCOPE(lora);
    for (int j = 0; j < g; j++)
      for (auto& [ad, s] : st.frozen)
        if (LoraWeights* w = ad->mod(l, ps[j]))
          m.be().lora_backward(nullptr, nullptr, dx, ws.lora_du, dys[j], x, nullptr, w->A.data(), w->B.data(), N, in,
                               m.proj_out(ps[j]), ad->r, s, nullptr);
  }
  if (drop) { // per projection: dA_j from its dropped input, dx += mask_j (du_j A_j) / (1 - p)
    PEFT_PROFILE_SCOPE(lora);
    for (int j = 0; j < g; j++) {
      const uint16_t* xd16 = dropped_bf16(m, st, l, ps[j], x, N, in, xbuf);
      m.be().lora_in_backward_one_bf16(gw.view, j, xd16, ducat, N, grad.mod(l, ps[j])->A.data(), ws.dxdrop);
      m.be().dropout_backward(dx, ws.dxdrop, (size_t)N * in, st.dropout, st.seed, dropout_stream(st, l, ps[j]));
    }
    return;
  }
  const uint16_t* x16 = x16_given ? x16_given : activation_bf16(m, x, N, in, in, xbuf, prof::lora); // the input, for dA
  PEFT_PROFILE_SCOPE(lora);
  float* dA[3];
  for (int j = 0; j < g; j++) dA[j] = grad.mod(l, ps[j])->A.data();
  m.be().lora_in_backward_bf16(gw.view, x16, in, ducat, N, dA);
}

// q, k, v and the attention output of a layer to their bf16 copies after its forward (to_bf16) or back into the
// shared fp32 buffers before its backward, over the pool (gate / up convert inside the SwiGLU passes, which are
// memory-bound: 2-thread bench, element-wise 206-211 -> 180-187 ms/step).
static void kept_bf16(const LlamaModel& m, const LayerActs& a, int N, bool to_bf16) {
  const size_t q = (size_t)N * m.Dq(), kv = (size_t)N * m.Dkv();
  const Bf16Pair t[4] = {{a.q, a.q16, q}, {a.k, a.k16, kv}, {a.v, a.v16, kv}, {a.att, a.att16, q}};
  m.be().convert_bf16(t, 4, to_bf16);
}

ops::AttnShape attn_shape(const LlamaModel& m, int T, int Tk, int pos0, int kv_stride, int batch) {
  const ModelConfig& c = m.cfg;
  ops::AttnShape s{T, Tk, pos0, c.num_heads, c.num_kv_heads, c.head_dim, c.sliding_window, m.Dq(), kv_stride};
  s.batch = batch;
  s.bf16 = m.compute == kern::Compute::BF16 && T >= 32 && m.be().bf16_native();
  return s;
}

void attention_and_output(const LlamaModel& m, const AdapterStack& st, Workspace& ws, int l, LayerActs& a,
                          int kv_stride, KVCache* cache) {
  const int N = ws.N, B = ws.B, T = ws.T, Dkv = kv_stride;
  if (cache) {
    PEFT_PROFILE_SCOPE(attention);
    float* kc = cache->k.data() + ((size_t)l * cache->max_len) * Dkv;
    float* vc = cache->v.data() + ((size_t)l * cache->max_len) * Dkv;
    m.be().copy_rows(kc + (size_t)ws.pos0 * Dkv, a.k, T, Dkv);
    m.be().copy_rows(vc + (size_t)ws.pos0 * Dkv, a.v, T, Dkv);
    m.be().attention_forward(a.att, a.lse, a.q, kc, vc, attn_shape(m, T, ws.pos0 + T, ws.pos0, Dkv, 1));
  } else {
    PEFT_PROFILE_SCOPE(attention);
    m.be().attention_forward(a.att, a.lse, a.q, a.k, a.v, attn_shape(m, T, T, 0, Dkv, B));
  }
  {
    const int ps[1] = {P_O};
    float* const ys[1] = {a.x2};
    float* const lus[1] = {a.lu[P_O]};
    group_forward(m, st, ws, l, ps, 1, ys, a.att, N, lus);
  }
}

static void layer_forward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, int l, LayerActs& a,
                          const float* x, float* out, KVCache* cache) {
  if (m.gpt2()) return gpt2_layer_forward(m, st, ws, l, a, x, out, cache); // GPT-2 block: gpt2_layer.cc
  const ModelConfig& c = m.cfg;
  const int N = ws.N, T = ws.T, H = m.H(), Dkv = m.Dkv(), I = m.I();
  const LlamaLayer& L = m.layers[l];
  const float eps = (float)c.rms_norm_eps;
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().rmsnorm_forward(ws.ln, a.rstd1, x, L.ln1.data(), N, H, eps);
  }
  {
    const int ps[3] = {P_Q, P_K, P_V};
    float* const ys[3] = {a.q, a.k, a.v};
    float* const lus[3] = {a.lu[P_Q], a.lu[P_K], a.lu[P_V]};
    group_forward(m, st, ws, l, ps, 3, ys, ws.ln, N, lus);
  }
  if (c.qk_norm) qk_norm_forward(m, *ws.moe, l, a.q, a.k, N);
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().rope_forward(a.q, ws.rope, N, T, c.num_heads, c.head_dim);
    m.be().rope_forward(a.k, ws.rope, N, T, c.num_kv_heads, c.head_dim);
  }
  attention_and_output(m, st, ws, l, a, Dkv, cache);
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().add_rmsnorm_forward(a.x2, x, ws.ln, a.rstd2, L.ln2.data(), N, H, eps);
  }
  if (L.moe) { // sparse MoE block instead of the dense MLP (moe/moe.cc)
    moe_forward(m, st, *ws.moe, l, ws.ln, N, out, ws.training);
    PEFT_PROFILE_SCOPE(elementwise);
    if (a.q16) kept_bf16(m, a, N, true);
    m.be().add_inplace(out, a.x2, N, H);
    return;
  }
  float* const G = a.g;
  float* const U = a.u;
  {
    const int ps[2] = {P_GATE, P_UP};
    float* const ys[2] = {G, U};
    float* const lus[2] = {a.lu[P_GATE], a.lu[P_UP]};
    group_forward(m, st, ws, l, ps, 2, ys, ws.ln, N, lus);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    if (a.g16) { // gate / up go to their bf16 copies in the same pass
      m.be().swiglu_forward_keep_bf16(ws.h, G, U, a.g16, a.u16, (size_t)N * I);
      kept_bf16(m, a, N, true);
    } else {
      m.be().swiglu_forward(ws.h, G, U, (size_t)N * I, vector_swiglu(N));
    }
  }
  {
    const int ps[1] = {P_DOWN};
    float* const ys[1] = {out};
    float* const lus[1] = {a.lu[P_DOWN]};
    group_forward(m, st, ws, l, ps, 1, ys, ws.h, N, lus);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().add_inplace(out, a.x2, N, H);
  }
}

// ws.dres holds d(layer output) on entry and d(layer input) on exit.
static void layer_backward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, Adapter& grad, int l,
                           const LayerActs& a, const float* x) {
  if (m.gpt2()) return gpt2_layer_backward(m, st, ws, grad, l, a, x); // GPT-2 block: gpt2_layer.cc
  const ModelConfig& c = m.cfg;
  const int N = ws.N, B = ws.B, T = ws.T, H = m.H(), Dkv = m.Dkv(), I = m.I();
  const LlamaLayer& L = m.layers[l];
  // the tensors kept in bf16 back to fp32; silu(gate) * up recomputed. When every projection runs the fused bf16
  // LoRA and no frozen adapter needs fp32 inputs, the recomputed inputs (h, ln2, ln1) and the attention output are
  // only read in bf16: they are produced in bf16 directly (into the fp32 buffers' room), saving passes.
  const float* const G = a.g;
  const float* const U = a.u;
  static const int ALL[N_PROJ] = {P_Q, P_K, P_V, P_O, P_GATE, P_UP, P_DOWN};
  const bool bf16_in = a.g16 && st.frozen.empty() && st.dropout == 0.f && can_fuse_group(m, st, l, ALL, N_PROJ, N);
  uint16_t* const h16 = reinterpret_cast<uint16_t*>(ws.h);
  uint16_t* const ln16 = reinterpret_cast<uint16_t*>(ws.ln);
  if (L.moe) { // sparse MoE block: d(ln2 output) into ws.dln (moe/moe.cc)
    if (a.q16) kept_bf16(m, a, N, false);
    m.be().rmsnorm_apply(ws.ln, a.x2, L.ln2.data(), a.rstd2, N, H); // ln2 recomputed
    moe_backward(m, st, *ws.moe, grad, l, ws.ln, ws.dres, ws.dln, N);
  } else {
    {
      PEFT_PROFILE_SCOPE(elementwise);
      if (a.g16) { // SwiGLU reads gate / up straight from their bf16 copies
        kept_bf16(m, a, N, false);
        if (bf16_in)
          m.be().swiglu_forward_bf16_to_bf16(h16, a.g16, a.u16, (size_t)N * I);
        else
          m.be().swiglu_forward_from_bf16(ws.h, a.g16, a.u16, (size_t)N * I);
      } else {
        m.be().swiglu_forward(ws.h, G, U, (size_t)N * I, vector_swiglu(N));
      }
    }
    {
      const int ps[1] = {P_DOWN};
      const float* const dys[1] = {ws.dres};
      const float* const lus[1] = {a.lu[P_DOWN]};
      group_backward(m, st, ws, grad, l, ps, 1, ws.dh, dys, bf16_in ? nullptr : ws.h, lus, N, bf16_in ? h16 : nullptr);
    }
    {
      PEFT_PROFILE_SCOPE(elementwise);
      if (a.g16)
        m.be().swiglu_backward_from_bf16(ws.dg, ws.du, ws.dh, a.g16, a.u16, (size_t)N * I);
      else
        m.be().swiglu_backward(ws.dg, ws.du, ws.dh, G, U, (size_t)N * I, vector_swiglu(N));
    }
    {
      PEFT_PROFILE_SCOPE(elementwise);
      if (bf16_in)
        m.be().rmsnorm_apply_bf16(ln16, a.x2, L.ln2.data(), a.rstd2, N, H); // ln2 recomputed
      else
        m.be().rmsnorm_apply(ws.ln, a.x2, L.ln2.data(), a.rstd2, N, H);
    }
    {
      const int ps[2] = {P_GATE, P_UP};
      const float* const dys[2] = {ws.dg, ws.du};
      const float* const lus[2] = {a.lu[P_GATE], a.lu[P_UP]};
      group_backward(m, st, ws, grad, l, ps, 2, ws.dln, dys, bf16_in ? nullptr : ws.ln, lus, N,
                     bf16_in ? ln16 : nullptr);
    }
  } // dense MLP
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().rmsnorm_backward(ws.dres, ws.dln, a.x2, L.ln2.data(), a.rstd2, N, H);
  }
  // attention
  {
    const int ps[1] = {P_O};
    const float* const dys[1] = {ws.dres};
    const float* const lus[1] = {a.lu[P_O]};
    group_backward(m, st, ws, grad, l, ps, 1, ws.datt, dys, a.att, lus, N, bf16_in ? a.att16 : nullptr);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().zero(ws.dk, (size_t)N * Dkv);
    m.be().zero(ws.dv, (size_t)N * Dkv);
  }
  {
    PEFT_PROFILE_SCOPE(attention);
    m.be().attention_backward(ws.dq, ws.dk, ws.dv, ws.datt, a.att, a.q, a.k, a.v, a.lse,
                              attn_shape(m, T, T, 0, Dkv, B));
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().rope_backward(ws.dq, ws.rope, N, T, c.num_heads, c.head_dim);
    m.be().rope_backward(ws.dk, ws.rope, N, T, c.num_kv_heads, c.head_dim);
  }
  if (c.qk_norm) qk_norm_backward(m, *ws.moe, l, ws.dq, ws.dk, N);
  {
    PEFT_PROFILE_SCOPE(elementwise);
    if (bf16_in)
      m.be().rmsnorm_apply_bf16(ln16, x, L.ln1.data(), a.rstd1, N, H); // ln1 recomputed
    else
      m.be().rmsnorm_apply(ws.ln, x, L.ln1.data(), a.rstd1, N, H);
  }
  {
    const int ps[3] = {P_Q, P_K, P_V};
    const float* const dys[3] = {ws.dq, ws.dk, ws.dv};
    const float* const lus[3] = {a.lu[P_Q], a.lu[P_K], a.lu[P_V]};
    group_backward(m, st, ws, grad, l, ps, 3, ws.dln, dys, bf16_in ? nullptr : ws.ln, lus, N, bf16_in ? ln16 : nullptr);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().rmsnorm_backward(ws.dres, ws.dln, x, L.ln1.data(), a.rstd1, N, H);
  }
}

void llama_forward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, const int32_t* ids, int B, int T,
                   KVCache* cache) {
  const ModelConfig& c = m.cfg;
  if (B != ws.B || T != ws.T) throw EngineError("E_INTERNAL", "llama_forward: workspace planned for another shape");
  const int H = m.H();
  ws.pos0 = cache ? cache->len : 0;
  if (cache && (B != 1 || cache->len + T > cache->max_len))
    throw EngineError("E_ENGINE", "KV cache overflow: " + std::to_string(cache->len + T) + " tokens, capacity " +
                                      std::to_string(cache->max_len));
  for (int r = 0; r < ws.N; r++)
    if (ids[r] < 0 || ids[r] >= c.vocab_size)
      throw EngineError("E_ENGINE", "token id " + std::to_string(ids[r]) + " at position " + std::to_string(r) +
                                        " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
  m.be().embed_rows(ws.resid[0], m.embed.data(), ids, ws.N, H);
  if (m.gpt2()) {
    gpt2_add_positions(m, ws, B, T); // learned absolute positions instead of RoPE
  } else {
    double pos_scale = 1.0;
    std::vector<double> inv = rope_inv_freq(c, ws.pos0 + T, &pos_scale);
    ops::rope_table(ws.rope, inv, pos_scale, ws.pos0, T);
  }
  for (int l = 0; l < c.num_layers; l++)
    layer_forward(m, st, ws, l, ws.acts_of(l), ws.resid[l], ws.resid[l + 1], cache);
  if (m.gpt2())
    m.be().layernorm_forward(ws.lnf, ws.meanf, ws.rstdf, ws.resid[c.num_layers], m.norm.data(), m.norm_b.data(), ws.N,
                             H, (float)c.rms_norm_eps);
  else
    m.be().rmsnorm_forward(ws.lnf, ws.rstdf, ws.resid[c.num_layers], m.norm.data(), ws.N, H, (float)c.rms_norm_eps);
  if (cache) cache->len += T;
}

void llama_backward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, Adapter& grad) {
  const ModelConfig& c = m.cfg;
  const int N = ws.N, H = m.H(), Lc = c.num_layers;
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().zero(ws.dres, (size_t)N * H);
  }
  if (m.gpt2())
    m.be().layernorm_backward(ws.dres, ws.dln, ws.resid[Lc], m.norm.data(), ws.meanf, ws.rstdf, N, H);
  else
    m.be().rmsnorm_backward(ws.dres, ws.dln, ws.resid[Lc], m.norm.data(), ws.rstdf, N, H);
  for (int l = Lc - 1; l >= 0; l--) {
    // the shared slot still holds the last layer's activations from the forward: only earlier layers recompute
    if (ws.recomputed(l) && l != Lc - 1) layer_forward(m, st, ws, l, ws.acts_of(l), ws.resid[l], ws.tmp_out, nullptr);
    layer_backward(m, st, ws, grad, l, ws.acts_of(l), ws.resid[l]);
  }
}

} // namespace peft
