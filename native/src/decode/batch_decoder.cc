// BatchDecoder: one forward per step over all running sequences. Rows are laid out as pooled short segments (decode
// rows and prompts the single-sequence path would also run as matrix-vector products), grouped by adapter stack, then
// long prompts, each on its own. The frozen products of the pooled rows run once for the batch as one product over
// the rows (Backend::decode_rows_linear, decode/rows_matmul: each NF4 tile decoded once per step and reused by every
// row, register blocks whose result for a row does not depend on the other rows); each long prompt runs exactly as
// llama_forward runs it for one sequence; LoRA products run once per group of rows with the same stack, row-wise (a
// long prompt's as llama_forward's); the lm_head is one product over every sequence's last row.
// In bf16 compute on a CPU with AVX512-BF16 every segment, long prompts too, is pooled and those products and the head
// run in bf16 (rows_matmul's bf16 mode; one NF4 decode per tile for prompts and decode rows together), as generation
// of one sequence runs them. Norms, RoPE and activations are row-wise; attention runs per sequence against its own KV cache (the decode rows of
// all sequences in one parallel region, decode/decode_attention); every computation goes through the model's Backend.
// GPT-2 takes its own branch per layer (LayerNorm with bias, the fused c_attn split into q | k | v, no RoPE, gelu_new
// MLP) and adds learned positions to the embeddings; a sequence stops ("length") when its context reaches n_positions.
#include "batch_decoder.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include "../backend/backend.h"
#include "../error.h"
#include "../kernels/kernels.h"
#include "../kernels/nf4.h"
#include "../kernels/vexp.h"
#include "../model/config.h"
#include "../moe/moe.h"
#include "../ops/ops.h"
#include "../profile.h"
#include "decode_attention.h"

namespace peft {

namespace {

// The compute mode llama_forward gives the frozen products of T rows (below 32 rows always fp32).
kern::Compute frozen_mode(const LlamaModel& m, int T) { return T < 32 ? kern::Compute::F32 : m.compute; }

// One contiguous range of rows in the step: a whole prompt, or the one fed-back token of a running sequence.
struct Segment {
  int seq = 0;         // index into the step's sequence list
  int row0 = 0, T = 0; // rows [row0, row0 + T)
  int pos0 = 0;        // position of the first row
  bool pooled = true;  // frozen products with the batch (else on its own, as llama_forward does)
  bool few = false;    // pooled and at most DECODE_FEW_ROWS rows: the frozen products generate runs (see step())
};

// Rows with the same adapter stack, whose LoRA products run as one.
struct Group {
  int row0 = 0, rows = 0;
  bool pooled = true;
  const std::vector<std::pair<std::shared_ptr<Adapter>, float>>* stack = nullptr;
};

bool same_stack(const std::vector<std::pair<std::shared_ptr<Adapter>, float>>& a,
                const std::vector<std::pair<std::shared_ptr<Adapter>, float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (a[i].first.get() != b[i].first.get() || a[i].second != b[i].second) return false;
  return true;
}

bool stack_less(const std::vector<std::pair<std::shared_ptr<Adapter>, float>>& a,
                const std::vector<std::pair<std::shared_ptr<Adapter>, float>>& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].first.get() != b[i].first.get()) return std::less<const Adapter*>()(a[i].first.get(), b[i].first.get());
    if (a[i].second != b[i].second) return a[i].second < b[i].second;
  }
  return false;
}

float* grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// y[T, out] += s (x A^T) B^T for T rows with row-independent products (decode/rows_matmul): unlike sgemm, whose
// blocking depends on T, a row's result never depends on how many rows share the call.
void lora_rows(const Backend& be, float* y, float* u, float* tmp, const float* x, const LoraWeights& w, int T, int in,
               int out, int r, float s) {
  be.decode_rows_f32(w.A.data(), r, in, x, T, u);    // u[T, r]
  be.decode_rows_f32(w.B.data(), out, r, u, T, tmp); // tmp[T, out]
  const size_t n = (size_t)T * out;
  for (size_t i = 0; i < n; i++) y[i] += s * tmp[i];
}

// The LoRA products of projections ps[0..np) (one input x, outputs ys) for every pooled group of rows, in one pool
// region: the rows that have LoRA work are split evenly over the pool, each piece runs lora_rows for its rows of each
// projection and each adapter of its group's stack in stack order. The products are row-independent, so a row gets
// the same bits however the rows are split (and as one region per product gave them); u and tmp are indexed by row,
// so pieces never share scratch. One region for q / k / v together instead of two per (group, adapter, projection).
void lora_pooled(const Backend& be, const LlamaModel& m, const std::vector<Group>& groups, int l, const int* ps,
                 float* const* ys, int np, const float* x, float* lu, int ld_u, float* ltmp, int ld_tmp) {
  const int in = m.proj_in(ps[0]);
  struct Work {
    int row0, rows;
    const std::vector<std::pair<std::shared_ptr<Adapter>, float>>* stack;
  };
  std::vector<Work> work;
  int total = 0;
  for (auto& gr : groups) {
    if (!gr.pooled) continue;
    bool any = false;
    for (auto& [ad, sc] : *gr.stack)
      for (int j = 0; j < np && !any; j++) any = ad->mod(l, ps[j]) != nullptr;
    if (!any) continue;
    work.push_back(Work{gr.row0, gr.rows, gr.stack});
    total += gr.rows;
  }
  if (!total) return;
  const auto run = [&](int b, int e) { // LoRA rows [b, e) of the concatenated work list
    int base = 0;
    for (const Work& w : work) {
      const int r0 = std::max(b, base), r1 = std::min(e, base + w.rows);
      base += w.rows;
      if (r0 >= r1) continue;
      const int row = w.row0 + (r0 - (base - w.rows)), T = r1 - r0;
      for (int j = 0; j < np; j++) {
        const int o = m.proj_out(ps[j]);
        for (auto& [ad, sc] : *w.stack)
          if (LoraWeights* lw = ad->mod(l, ps[j]))
            lora_rows(be, ys[j] + (size_t)row * o, lu + (size_t)row * ld_u, ltmp + (size_t)row * ld_tmp,
                      x + (size_t)row * in, *lw, T, in, o, ad->r, sc);
      }
    }
  };
  kern::parallel_for(total, run);
}

} // namespace

BatchDecoder::BatchDecoder(std::shared_ptr<LlamaModel> m, int max_batch, size_t kv_budget_bytes)
    : m_(std::move(m)), max_batch_(max_batch), kv_budget_(kv_budget_bytes) {
  if (max_batch_ < 1) throw EngineError("E_ENGINE", "decoder: maxBatch must be at least 1");
}

size_t BatchDecoder::kv_bytes_per_token() const { return (size_t)2 * m_->cfg.num_layers * m_->Dkv() * sizeof(float); }

size_t BatchDecoder::check(const DecodeRequest& r) const {
  const ModelConfig& c = m_->cfg;
  if (r.prompt.empty()) throw EngineError("E_ENGINE", "decoder: the prompt is empty (at least one token id is needed)");
  for (size_t i = 0; i < r.prompt.size(); i++)
    if (r.prompt[i] < 0 || r.prompt[i] >= c.vocab_size)
      throw EngineError("E_ENGINE", "decoder: prompt[" + std::to_string(i) + "] = " + std::to_string(r.prompt[i]) +
                                        " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
  if (r.opt.max_tokens < 1) throw EngineError("E_ENGINE", "decoder: maxTokens must be at least 1");
  if (r.top_logprobs < 0 || r.top_logprobs > c.vocab_size)
    throw EngineError("E_ENGINE", "decoder: topLogprobs must be in [0, vocabulary size]");
  for (auto& [a, s] : r.adapters)
    if (!a || (int)a->mods.size() != c.num_layers)
      throw EngineError("E_ENGINE", "decoder: an adapter is not shaped for this model");
  if (c.gpt2 && (int)r.prompt.size() > c.max_position_embeddings)
    throw EngineError("E_ENGINE", "decoder: the prompt has " + std::to_string(r.prompt.size()) +
                                      " tokens, more than this GPT-2 model's context (n_positions " +
                                      std::to_string(c.max_position_embeddings) + "): shorten it");
  return cache_len(r) * kv_bytes_per_token();
}

// KV rows a sequence can use: prompt + new tokens; GPT-2 stops at n_positions (finish "length").
size_t BatchDecoder::cache_len(const DecodeRequest& r) const {
  const size_t n = r.prompt.size() + (size_t)r.opt.max_tokens;
  return m_->cfg.gpt2 ? std::min(n, (size_t)m_->cfg.max_position_embeddings) : n;
}

void BatchDecoder::add(DecodeRequest r) {
  const size_t bytes = check(r);
  if (seqs_.count(r.id))
    throw EngineError("E_ENGINE", "decoder: sequence id " + std::to_string(r.id) + " is already running");
  if ((int)seqs_.size() >= max_batch_)
    throw EngineError("E_BUSY", "decoder: the batch is full (" + std::to_string(max_batch_) + " sequences)");
  if (kv_used_ + bytes > kv_budget_)
    throw EngineError("E_BUSY", "decoder: the KV cache budget is full (" + std::to_string(kv_used_) + " of " +
                                    std::to_string(kv_budget_) + " bytes in use, this sequence needs " +
                                    std::to_string(bytes) + ")");
  auto s = std::make_unique<Seq>();
  s->rng.reseed(r.opt.seed);
  s->cache.init(*m_, (int)cache_len(r));
  s->kv_bytes = bytes;
  s->req = std::move(r);
  kv_used_ += bytes;
  order_.push_back(s->req.id);
  seqs_[s->req.id] = std::move(s);
}

void BatchDecoder::drop(int64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  kv_used_ -= it->second->kv_bytes;
  seqs_.erase(it);
  order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
}

std::vector<DecodeEvent> BatchDecoder::step(int prefill_rows) {
  const double t_step = prof::now_seconds();
  struct StepClock { // the step's wall time (profile.h's step total), whichever way the step returns
    double t0;
    ~StepClock() {
      prof::counters().step_sec += prof::now_seconds() - t0;
      prof::counters().steps++;
    }
  } clock{t_step};
  const LlamaModel& m = *m_;
  const Backend& be = m.be();
  const ModelConfig& c = m.cfg;
  const int H = m.H(), Dq = m.Dq(), Dkv = m.Dkv(), I = m.I(), V = c.vocab_size;
  const float eps = (float)c.rms_norm_eps;
  // bf16 compute on a CPU with AVX512-BF16 (decode_bf16_rows): every segment pooled, prompts included, the frozen
  // products and the head in bf16 (bf16 inputs and weights, fp32 accumulation), as single-sequence generation computes
  // them (generate.cc)
  const bool bf16 = decode_bf16_rows(m);
  const bool int8 = decode_int8_rows(m); // int8 compute: the pooled NF4 products and the head in int8, as generate's
  // bf16 compute on a CPU without AVX512-BF16: the few-row products read the bf16 copies of unquantized weights and
  // the head its bf16 copy, widened to fp32, as generate reads them
  const bool bf16_copies = !bf16 && m.compute == kern::Compute::BF16;

  // Who takes part: every running sequence (one row), and waiting prompts in join order within the prefill budget.
  // Where every row is pooled (decode_all_rows: the bf16 mode, fp32 compute of a model the row products take) a prompt
  // joins in chunks of PREFILL_CHUNK rows (generate runs it in the same chunks), so a long one stalls the running
  // sequences for one chunk per step, not for its whole prefill.
  const bool all_rows = decode_all_rows(m);
  std::vector<Seq*> seqs;
  std::vector<int> rows; // rows of each entry of seqs in this step
  int joining_rows = 0;
  for (int64_t id : order_) {
    Seq* s = seqs_.at(id).get();
    const int left = (int)s->req.prompt.size() - s->fed;
    const int T = s->prefilled ? 1 : all_rows ? std::min(left, PREFILL_CHUNK) : left;
    if (s->prefilled || joining_rows == 0 || joining_rows + T <= prefill_rows) {
      seqs.push_back(s);
      rows.push_back(T);
      if (!s->prefilled) joining_rows += T;
    }
  }
  last_prefill_rows_ = joining_rows;
  if (seqs.empty()) return {};

  // Segments: pooled ones first, sorted by adapter stack (so each group is contiguous), then the long prompts.
  std::vector<Segment> segs(seqs.size());
  for (size_t i = 0; i < seqs.size(); i++) {
    Seq* s = seqs[i];
    segs[i].seq = (int)i;
    segs[i].T = rows[i];
    segs[i].pos0 = s->cache.len;
    segs[i].pooled = decode_row_path(m, segs[i].T); // generate's line between its row products and llama_forward
    // Pooled segments of at most DECODE_FEW_ROWS rows (generate.h: every decode row, short prompts) run their frozen
    // products as single-sequence generation runs its steps (Backend::decode_linear_group: NF4 decoded in registers, the
    // projections of one input in one pool region), the longer pooled prompts as decode/rows_matmul's tiles decoded once
    // for all their rows (generate runs a prompt of that length through the same tiles). Which one a row takes depends
    // only on its own segment, never on the other rows, and both give a row's result independently of the rows beside
    // it, so a request still gets the same bits in any batch.
    segs[i].few =
        segs[i].pooled && !bf16 && !int8 && segs[i].T <= DECODE_FEW_ROWS; // int8: its own products for every row
  }
  std::stable_sort(segs.begin(), segs.end(), [&](const Segment& a, const Segment& b) {
    if (a.pooled != b.pooled) return a.pooled;
    if (!a.pooled) return false;
    if (a.few != b.few) return a.few;
    return stack_less(seqs[a.seq]->req.adapters, seqs[b.seq]->req.adapters);
  });
  int N = 0, Np = 0, Nf = 0; // rows, pooled rows [0, Np), of which [0, Nf) in short segments
  for (auto& g : segs) {
    g.row0 = N;
    N += g.T;
    if (g.pooled) Np = N;
    if (g.few) Nf = N;
  }
  std::vector<Group> groups; // LoRA groups: runs of pooled rows with one stack, and each long segment
  for (auto& g : segs) {
    const auto* st = &seqs[g.seq]->req.adapters;
    if (g.pooled && !groups.empty() && groups.back().row0 + groups.back().rows == g.row0 && g.row0 < Np &&
        same_stack(*groups.back().stack, *st))
      groups.back().rows += g.T;
    else
      groups.push_back(Group{g.row0, g.T, g.pooled, st});
  }
  int rmax = 0;
  for (auto* s : seqs)
    for (auto& [a, sc] : s->req.adapters) rmax = std::max(rmax, a->r);

  const size_t n = N;
  float* x = grow(x_, n * H);
  float* ln = grow(ln_, n * H);
  float* q = grow(q_, n * Dq);
  float* k = grow(k_, n * Dkv);
  float* v = grow(v_, n * Dkv);
  float* att = grow(att_, n * Dq);
  float* x2 = grow(x2_, n * H);
  float* G = grow(g_, n * I);
  float* U = grow(u_, n * I);
  float* h = grow(h_, n * I);
  float* out = grow(out_, n * H);
  float* lu = grow(lora_u_, n * std::max(rmax, 1));
  float* ltmp = grow(lora_tmp_, n * std::max({H, I, Dq * (c.gpt2 ? 3 : 1), Dkv}));
  float* qkv = c.gpt2 ? grow(qkv_, n * Dq * 3) : nullptr; // gpt2's fused c_attn output

  for (auto& g : segs) {
    Seq* s = seqs[g.seq];
    const int32_t* ids = s->prefilled ? &s->last : s->req.prompt.data() + s->fed;
    for (int t = 0; t < g.T; t++) {
      float* xr = x + (size_t)(g.row0 + t) * H;
      std::memcpy(xr, m.embed.data() + (size_t)ids[t] * H, H * sizeof(float));
      if (c.gpt2) // learned absolute positions
        for (int j = 0; j < H; j++) xr[j] += m.pos_embed[(size_t)(g.pos0 + t) * H + j];
    }
  }
  std::vector<decode::AttnRow> arows;
  arows.reserve(segs.size());
  std::vector<ops::RopeTable> rope(segs.size());
  for (size_t i = 0; i < segs.size() && !c.gpt2; i++) {
    double pos_scale = 1.0;
    std::vector<double> inv = rope_inv_freq(c, segs[i].pos0 + segs[i].T, &pos_scale);
    ops::rope_table(rope[i], inv, pos_scale, segs[i].pos0, segs[i].T);
  }

  const int ld_u = std::max(rmax, 1), ld_tmp = std::max({H, I, Dq * (c.gpt2 ? 3 : 1), Dkv});
  // ys[j] = x W_j^T (+ bias) + the LoRA products of each row's stack, for projections ps[0..np) of layer l (one input):
  // the frozen products, then the pooled rows' LoRA products of all np projections in one pool region.
  const auto project_n = [&](int l, const int* ps, float* const* ys, int np, const float* xin) {
    const kern::FrozenLinear* ws[3];
    bool few = Nf > 0; // rows [0, Nf) through the decode products (weights they cannot take: the tiles for all rows)
    for (int j = 0; j < np; j++) {
      ws[j] = m.layers[l].proj[ps[j]].get();
      few = few && be.decode_supported(*ws[j]);
    }
    const int r_tiles = few ? Nf : 0; // the first row of the tiled products
    if (few) {
      PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
      const int in = m.proj_in(ps[0]);
      for (int r0 = 0; r0 < Nf; r0 += kern::NF4_GEMV_MAX_ROWS) {
        float* yr[3];
        for (int j = 0; j < np; j++) yr[j] = ys[j] + (size_t)r0 * m.proj_out(ps[j]);
        be.decode_linear_group(ws, yr, np, xin + (size_t)r0 * in, std::min(kern::NF4_GEMV_MAX_ROWS, Nf - r0), nullptr,
                               bf16_copies);
      }
    }
    for (int j = 0; j < np; j++) {
      const int p = ps[j];
      const kern::FrozenLinear& W = *m.layers[l].proj[p];
      const int in = m.proj_in(p), o = m.proj_out(p);
      PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
      if (Np > r_tiles && int8)
        be.decode_rows_linear_int8(W, ys[j] + (size_t)r_tiles * o, xin + (size_t)r_tiles * in, Np - r_tiles);
      else if (Np > r_tiles)
        be.decode_rows_linear(W, ys[j] + (size_t)r_tiles * o, xin + (size_t)r_tiles * in, Np - r_tiles, bf16);
      for (auto& g : segs)
        if (!g.pooled)
          be.linear_forward(W, ys[j] + (size_t)g.row0 * o, xin + (size_t)g.row0 * in, g.T, frozen_mode(m, g.T));
    }
    PEFT_PROFILE_SCOPE(lora);
    lora_pooled(be, m, groups, l, ps, ys, np, xin, lu, ld_u, ltmp, ld_tmp);
    for (int j = 0; j < np; j++) { // long prompts: as llama_forward runs their LoRA products
      const int p = ps[j], in = m.proj_in(p), o = m.proj_out(p);
      for (auto& gr : groups)
        if (!gr.pooled)
          for (auto& [ad, sc] : *gr.stack)
            if (LoraWeights* w = ad->mod(l, p))
              be.lora_forward(ys[j] + (size_t)gr.row0 * o, lu, xin + (size_t)gr.row0 * in, w->A.data(), w->B.data(),
                              gr.rows, in, o, ad->r, sc);
    }
  };
  const auto project = [&](int l, int p, float* y, const float* xin) {
    float* const ys[1] = {y};
    project_n(l, &p, ys, 1, xin);
  };

  for (int l = 0; l < c.num_layers; l++) {
    const LlamaLayer& L = m.layers[l];
    if (c.gpt2) { // LayerNorm with bias, one fused c_attn split into q | k | v
      {
        PEFT_PROFILE_SCOPE(elementwise);
        be.layernorm_forward(ln, nullptr, nullptr, x, L.ln1.data(), L.ln1_b.data(), N, H, eps);
      }
      project(l, P_Q, qkv, ln);
      PEFT_PROFILE_SCOPE(elementwise);
      for (size_t r = 0; r < n; r++) {
        std::memcpy(q + r * Dq, qkv + r * 3 * Dq, Dq * sizeof(float));
        std::memcpy(k + r * Dkv, qkv + r * 3 * Dq + Dq, Dkv * sizeof(float));
        std::memcpy(v + r * Dkv, qkv + r * 3 * Dq + 2 * Dq, Dkv * sizeof(float));
      }
    } else {
      {
        PEFT_PROFILE_SCOPE(elementwise);
        be.rmsnorm_forward(ln, nullptr, x, L.ln1.data(), N, H, eps);
      }
      const int qkv_p[3] = {P_Q, P_K, P_V};
      float* const qkv_y[3] = {q, k, v};
      project_n(l, qkv_p, qkv_y, 3, ln);
      if (c.qk_norm) { // MiniMax-M2: RMSNorm over each row's full q / k width (row-wise)
        ops::rmsnorm_forward(q, nullptr, q, L.q_norm.data(), N, Dq, eps);
        ops::rmsnorm_forward(k, nullptr, k, L.k_norm.data(), N, Dkv, eps);
      }
    }
    {
      PEFT_PROFILE_SCOPE(attention);
      arows.clear();
      for (size_t i = 0; i < segs.size(); i++) {
        const Segment& g = segs[i];
        KVCache& cache = seqs[g.seq]->cache;
        float* qs = q + (size_t)g.row0 * Dq;
        float* ks = k + (size_t)g.row0 * Dkv;
        if (!c.gpt2) {
          be.rope_forward(qs, rope[i], g.T, g.T, c.num_heads, c.head_dim);
          be.rope_forward(ks, rope[i], g.T, g.T, c.num_kv_heads, c.head_dim);
        }
        float* kc = cache.k.data() + ((size_t)l * cache.max_len) * Dkv;
        float* vc = cache.v.data() + ((size_t)l * cache.max_len) * Dkv;
        std::memcpy(kc + (size_t)g.pos0 * Dkv, ks, (size_t)g.T * Dkv * sizeof(float));
        std::memcpy(vc + (size_t)g.pos0 * Dkv, v + (size_t)g.row0 * Dkv, (size_t)g.T * Dkv * sizeof(float));
        if (g.T == 1) { // a decode row: with the others, in one parallel region below
          arows.push_back(decode::AttnRow{qs, kc, vc, att + (size_t)g.row0 * Dq, g.pos0});
          continue;
        }
        ops::AttnShape sh{g.T,        g.pos0 + g.T,     g.pos0, c.num_heads, c.num_kv_heads,
                          c.head_dim, c.sliding_window, Dq,     Dkv};
        sh.batch = 1;
        sh.bf16 = m.compute == kern::Compute::BF16 && g.T >= 32 && kern::bf16_native();
        be.attention_forward(att + (size_t)g.row0 * Dq, nullptr, qs, kc, vc, sh);
      }
      be.decode_attention_rows(arows.data(), (int)arows.size(), c.num_heads, c.num_kv_heads, c.head_dim,
                               c.sliding_window);
    }
    project(l, P_O, x2, att);
    if (c.gpt2) { // LayerNorm, c_fc -> gelu_new -> c_proj
      {
        PEFT_PROFILE_SCOPE(elementwise);
        be.add_inplace(x2, x, N, H);
        be.layernorm_forward(ln, nullptr, nullptr, x2, L.ln2.data(), L.ln2_b.data(), N, H, eps);
      }
      project(l, P_UP, U, ln);
      {
        PEFT_PROFILE_SCOPE(elementwise);
        be.gelu_new_forward(h, U, n * I);
      }
      project(l, P_DOWN, out, h);
      PEFT_PROFILE_SCOPE(elementwise);
      be.add_inplace(out, x2, N, H);
      std::swap(x, out);
      continue;
    }
    {
      PEFT_PROFILE_SCOPE(elementwise);
      be.add_rmsnorm_forward(x2, x, ln, nullptr, L.ln2.data(), N, H, eps);
    }
    if (L.moe) { // sparse MoE block, per group of rows with one adapter stack (moe/moe.cc)
      if (!moe_) moe_ = moe_workspace(m, false);
      for (auto& gr : groups) {
        AdapterStack st;
        st.frozen = *gr.stack;
        moe_forward(m, st, *moe_, l, ln + (size_t)gr.row0 * H, gr.rows, out + (size_t)gr.row0 * H, false);
      }
      for (size_t i = 0; i < n * H; i++) out[i] += x2[i];
      std::swap(x, out);
      continue;
    }
    const int gu_p[2] = {P_GATE, P_UP};
    float* const gu_y[2] = {G, U};
    project_n(l, gu_p, gu_y, 2, ln);
    {
      PEFT_PROFILE_SCOPE(elementwise);
      if (Np) be.swiglu_forward(h, G, U, (size_t)Np * I, true); // the vectorised exp, as generate's decode rows
      for (auto& g : segs)
        if (!g.pooled)
          be.swiglu_forward(h + (size_t)g.row0 * I, G + (size_t)g.row0 * I, U + (size_t)g.row0 * I, (size_t)g.T * I,
                            g.T >= 32); // as llama_forward picks its exp
    }
    project(l, P_DOWN, out, h);
    {
      PEFT_PROFILE_SCOPE(elementwise);
      be.add_inplace(out, x2, N, H);
    }
    std::swap(x, out);
  }
  // Segments that sample a token: decode rows and prompts whose last chunk ran (a chunk before it only fills the cache).
  std::vector<int> emit;
  for (int i = 0; i < (int)segs.size(); i++) {
    Seq* s = seqs[segs[i].seq];
    if (s->prefilled || s->fed + segs[i].T == (int)s->req.prompt.size())
      emit.push_back(i);
    else { // a prompt chunk: its rows are in the cache now
      s->cache.len += segs[i].T;
      s->fed += segs[i].T;
    }
  }
  // the final norm of each sampling segment's last row, then its logits (one product over the rows and the head)
  const int S = (int)emit.size();
  float* last = grow(last_, (size_t)std::max(S, 1) * H);
  for (int i = 0; i < S; i++) {
    const float* xr = x + (size_t)(segs[emit[i]].row0 + segs[emit[i]].T - 1) * H;
    if (c.gpt2)
      be.layernorm_forward(last + (size_t)i * H, nullptr, nullptr, xr, m.norm.data(), m.norm_b.data(), 1, H, eps);
    else
      be.rmsnorm_forward(last + (size_t)i * H, nullptr, xr, m.norm.data(), 1, H, eps);
  }
  float* logits = grow(logits_, (size_t)std::max(S, 1) * V);
  {
    PEFT_PROFILE_SCOPE(lmhead_ce);
    if (int8 && !m.head8.empty())
      be.decode_rows_q8(m.head8.data(), m.head8_d.data(), V, H, last, S, logits);
    else if (bf16 && !m.head16.empty())
      be.decode_rows_bf16(m.head16.data(), V, H, last, S, logits);
    else if (bf16_copies && !m.head16.empty())
      be.decode_matvec_bf16(m.head16.data(), V, H, last, S, logits);
    else
      be.decode_rows_f32(m.head(), V, H, last, S, logits);
  }
  PEFT_PROFILE_SCOPE(sampling);
  // each row's log-softmax, top alternatives and sampled token, rows over the pool (a row uses its own logits and rng)
  std::vector<DecodeEvent> events(S);
  kern::parallel_for(S, [&](int rb, int re) {
    for (int i = rb; i < re; i++) {
      Seq* s = seqs[segs[emit[i]].seq];
      float* lg = logits + (size_t)i * V;
      const double lse = be.row_log_sum_exp(lg, V); // as generate reports it
      DecodeEvent& ev = events[i];
      ev.id = s->req.id;
      if (s->req.top_logprobs > 0) {
        std::vector<int> idx(V);
        std::iota(idx.begin(), idx.end(), 0);
        const int kk = s->req.top_logprobs;
        std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(),
                          [&](int a, int b) { return lg[a] > lg[b] || (lg[a] == lg[b] && a < b); });
        for (int j = 0; j < kk; j++) {
          ev.top_ids.push_back(idx[j]);
          ev.top_logprobs.push_back((float)(lg[idx[j]] - lse));
        }
      }
      ev.token = sample_token(lg, V, s->req.opt, s->rng);
      ev.logprob = (float)(lg[ev.token] - lse);
    }
  });
  std::vector<int64_t> finished;
  for (int i = 0; i < S; i++) {
    Seq* s = seqs[segs[emit[i]].seq];
    DecodeEvent& ev = events[i];
    s->cache.len += segs[emit[i]].T;
    s->fed = (int)s->req.prompt.size();
    s->prefilled = true;
    s->produced++;
    s->last = ev.token;
    if (std::find(s->req.opt.eos.begin(), s->req.opt.eos.end(), ev.token) != s->req.opt.eos.end())
      ev.finish = "stop";
    else if (s->produced >= s->req.opt.max_tokens || s->cache.len >= s->cache.max_len)
      ev.finish = "length"; // gpt2: the context (n_positions) is full
    if (ev.finish) finished.push_back(s->req.id);
  }
  for (int64_t id : finished) drop(id);
  return events;
}

} // namespace peft
