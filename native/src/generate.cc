// Generation of one sequence with a KV cache, the whole loop in native code (prefill once, then one token per
// forward; no per-token allocation), and sequence scoring. Steps below 32 rows run as decode products
// (backend decode_*: NF4 decoded in registers, a few pool regions per layer; in bf16 compute the head and the
// unquantized weights read from their bf16 copies, activations and sums in fp32; on a CPU with AVX512-BF16 the batched
// decoder's bf16 products instead, bf16 inputs too, so a sequence decodes as it does in a batch); longer prompts
// through llama_forward.
#include "generate.h"
#include <algorithm>
#include <cmath>
#include <numeric>
#include "error.h"
#include "kernels/kernels.h"
#include "moe/moe.h"
#include "profile.h"
#include "rng.h"

namespace peft {

int sample_token(float* logits, int V, const GenOptions& opt, Rng& rng) {
  if (opt.temperature <= 0.f) return (int)(std::max_element(logits, logits + V) - logits); // first max, as torch.argmax
  std::vector<int> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  int keep = V;
  if (opt.top_k > 0) keep = std::min(keep, opt.top_k);
  std::vector<double> p(keep);
  const double mx = logits[idx[0]] / (double)opt.temperature;
  double sum = 0;
  for (int i = 0; i < keep; i++) sum += p[i] = std::exp(logits[idx[i]] / (double)opt.temperature - mx);
  for (auto& x : p) x /= sum;
  if (opt.top_p < 1.f) { // smallest prefix whose mass reaches top_p (at least one token)
    double c = 0;
    int n = 0;
    while (n < keep) {
      c += p[n++];
      if (c >= opt.top_p) break;
    }
    keep = n;
    double s = 0;
    for (int i = 0; i < keep; i++) s += p[i];
    for (int i = 0; i < keep; i++) p[i] /= s;
  }
  double u = rng.uniform(), c = 0;
  for (int i = 0; i < keep; i++) {
    c += p[i];
    if (u < c) return idx[i];
  }
  return idx[keep - 1];
}

namespace {

// Working memory of one sequence's decoding, sized once for its longest forward (no allocation per token).
struct DecodeBufs {
  std::vector<float> x, ln, q, k, v, att, x2, g, u, h, out, lnf, logits, lora_u, lora_tmp;
  void plan(const LlamaModel& m, const AdapterStack& st, int rows) {
    const size_t n = rows, H = m.H(), Dq = m.Dq(), Dkv = m.Dkv(), I = m.I();
    for (auto* b : {&x, &ln, &x2, &out}) b->assign(n * H, 0.f);
    for (auto* b : {&q, &att}) b->assign(n * Dq, 0.f);
    for (auto* b : {&k, &v}) b->assign(n * Dkv, 0.f);
    for (auto* b : {&g, &u, &h}) b->assign(n * I, 0.f);
    lnf.assign(H, 0.f);
    logits.assign(m.cfg.vocab_size, 0.f);
    lora_u.assign(n * std::max(st.max_rank(), 1), 0.f);
    lora_tmp.assign(n * std::max({H, I, Dq, Dkv}), 0.f);
  }
};

bool has_lora(const AdapterStack& st, int l, int p) {
  for (auto& [ad, s] : st.frozen)
    if (ad->mod(l, p)) return true;
  return false;
}

// y[T, out] += s (x A^T) B^T for each frozen adapter of projection p (row-independent products, as the batched
// decoder's LoRA rows).
void lora_rows(const LlamaModel& m, const AdapterStack& st, DecodeBufs& b, int l, int p, float* y, const float* x,
               int T) {
  const int in = m.proj_in(p), out = m.proj_out(p);
  for (auto& [ad, s] : st.frozen)
    if (LoraWeights* w = ad->mod(l, p)) {
      m.be().decode_rows_f32(w->A.data(), ad->r, in, x, T, b.lora_u.data()); // the batched decoder's products
      m.be().decode_rows_f32(w->B.data(), out, ad->r, b.lora_u.data(), T, b.lora_tmp.data());
      const size_t n = (size_t)T * out;
      const float* tmp = b.lora_tmp.data();
      for (size_t i = 0; i < n; i++) y[i] += s * tmp[i];
    }
}

// Llama-family blocks (GPT-2's, MoE and q-k-norm layers decode through llama_forward).
bool rows_family(const LlamaModel& m) { return !m.gpt2() && !m.cfg.num_experts && !m.cfg.qk_norm; }

// Whether every projection can run as a decode product.
bool rows_path(const LlamaModel& m) {
  if (!rows_family(m)) return false;
  for (auto& L : m.layers)
    for (auto& p : L.proj)
      if (!p || !m.be().decode_supported(*p)) return false;
  return true;
}

// Whether the frozen products and the head run in the batched decoder's bf16 mode (bf16 compute on a CPU with
// AVX512-BF16: bf16 inputs and weights, fp32 accumulation), so a sequence gets here the numbers it gets in a batch.
bool bf16_rows(const LlamaModel& m) { return m.compute == kern::Compute::BF16 && m.be().decode_rows_bf16_available(); }

// Whether the frozen products and the head run in the int8 mode (int8 compute), as in the batched decoder.
bool int8_rows(const LlamaModel& m) { return m.int8 && rows_family(m); }

// ys[j] = x W_j^T for n projections over the same input (+ resid into ys[0]): up to DECODE_FEW_ROWS rows the decode
// products in one region; more rows, or the bf16 mode, the batched decoder's tiles one projection at a time.
void frozen_group(const LlamaModel& m, const kern::FrozenLinear* const* ws, float* const* ys, int n, const float* x,
                  int T, const float* resid, bool bf16) {
  if (int8_rows(m)) {
    m.be().decode_rows_linear_int8_group(ws, ys, n, x, T);
    if (resid) m.be().add_inplace(ys[0], resid, T, ws[0]->out());
    return;
  }
  if (!bf16_rows(m) && T <= DECODE_FEW_ROWS) return m.be().decode_linear_group(ws, ys, n, x, T, resid, bf16);
  // the bf16 mode, or a prompt of more rows: decode/rows_matmul's tiles, as the batched decoder runs them
  for (int j = 0; j < n; j++) m.be().decode_rows_linear(*ws[j], ys[j], x, T, bf16_rows(m));
  if (resid) m.be().add_inplace(ys[0], resid, T, ws[0]->out());
}

// One forward of T rows (decode_row_path(m, T), or a chunk of a prompt in the bf16 mode) at the cache's next positions; leaves the final norm of the last row in
// b.lnf. Per layer four pool regions carry the products (q/k/v; o; gate/up with SwiGLU; down with the residual).
void forward_rows(const LlamaModel& m, const AdapterStack& st, KVCache& cache, const int32_t* ids, int T,
                  DecodeBufs& b) {
  const ModelConfig& c = m.cfg;
  const Backend& be = m.be();
  const int H = m.H(), Dq = m.Dq(), Dkv = m.Dkv(), I = m.I(), pos0 = cache.len;
  const float eps = (float)c.rms_norm_eps;
  const bool bf16 = m.compute == kern::Compute::BF16; // weights with a bf16 copy read in bf16
  float* x = b.x.data();
  float* out = b.out.data();
  be.embed_rows(x, m.embed.data(), ids, T, H);
  ops::RopeTable rope;
  double pos_scale = 1.0;
  const std::vector<double> inv = rope_inv_freq(c, pos0 + T, &pos_scale);
  ops::rope_table(rope, inv, pos_scale, pos0, T);
  for (int l = 0; l < c.num_layers; l++) {
    const LlamaLayer& L = m.layers[l];
    {
      PEFT_PROFILE_SCOPE(elementwise);
      be.rmsnorm_forward(b.ln.data(), nullptr, x, L.ln1.data(), T, H, eps);
    }
    {
      PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
      const kern::FrozenLinear* ws[3] = {L.proj[P_Q].get(), L.proj[P_K].get(), L.proj[P_V].get()};
      float* const ys[3] = {b.q.data(), b.k.data(), b.v.data()};
      frozen_group(m, ws, ys, 3, b.ln.data(), T, nullptr, bf16);
    }
    {
      PEFT_PROFILE_SCOPE(lora);
      lora_rows(m, st, b, l, P_Q, b.q.data(), b.ln.data(), T);
      lora_rows(m, st, b, l, P_K, b.k.data(), b.ln.data(), T);
      lora_rows(m, st, b, l, P_V, b.v.data(), b.ln.data(), T);
    }
    {
      PEFT_PROFILE_SCOPE(attention);
      be.rope_forward(b.q.data(), rope, T, T, c.num_heads, c.head_dim);
      be.rope_forward(b.k.data(), rope, T, T, c.num_kv_heads, c.head_dim);
      float* kc = cache.k.data() + ((size_t)l * cache.max_len) * Dkv;
      float* vc = cache.v.data() + ((size_t)l * cache.max_len) * Dkv;
      be.copy_rows(kc + (size_t)pos0 * Dkv, b.k.data(), T, Dkv);
      be.copy_rows(vc + (size_t)pos0 * Dkv, b.v.data(), T, Dkv);
      ops::AttnShape sh{T, pos0 + T, pos0, c.num_heads, c.num_kv_heads, c.head_dim, c.sliding_window, Dq, Dkv};
      sh.batch = 1;
      sh.bf16 = m.compute == kern::Compute::BF16 && T >= 32 && be.bf16_native(); // as llama_forward's
      be.attention_forward(b.att.data(), nullptr, b.q.data(), kc, vc, sh);
    }
    {
      PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
      const kern::FrozenLinear* ws[1] = {L.proj[P_O].get()};
      float* const ys[1] = {b.x2.data()};
      frozen_group(m, ws, ys, 1, b.att.data(), T, nullptr, bf16);
    }
    {
      PEFT_PROFILE_SCOPE(lora);
      lora_rows(m, st, b, l, P_O, b.x2.data(), b.att.data(), T);
    }
    {
      PEFT_PROFILE_SCOPE(elementwise);
      be.add_rmsnorm_forward(b.x2.data(), x, b.ln.data(), nullptr, L.ln2.data(), T, H, eps);
    }
    const bool gu_lora = has_lora(st, l, P_GATE) || has_lora(st, l, P_UP);
    if (!gu_lora && !bf16_rows(m) && !int8_rows(m) && T <= DECODE_FEW_ROWS) {
      PEFT_PROFILE_SCOPE(matmul_frozen_fwd); // gate, up and SwiGLU in one region
      be.decode_gate_up_swiglu(*L.proj[P_GATE], *L.proj[P_UP], b.ln.data(), T, b.g.data(), b.u.data(), b.h.data(),
                               bf16);
    } else {
      {
        PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
        const kern::FrozenLinear* ws[2] = {L.proj[P_GATE].get(), L.proj[P_UP].get()};
        float* const ys[2] = {b.g.data(), b.u.data()};
        frozen_group(m, ws, ys, 2, b.ln.data(), T, nullptr, bf16);
      }
      if (gu_lora) {
        PEFT_PROFILE_SCOPE(lora);
        lora_rows(m, st, b, l, P_GATE, b.g.data(), b.ln.data(), T);
        lora_rows(m, st, b, l, P_UP, b.u.data(), b.ln.data(), T);
      }
      PEFT_PROFILE_SCOPE(elementwise);
      be.swiglu_forward(b.h.data(), b.g.data(), b.u.data(), (size_t)T * I, true); // the vectorised exp, as the batch's
    }
    const kern::FrozenLinear* wd[1] = {L.proj[P_DOWN].get()};
    float* const yd[1] = {out};
    if (!has_lora(st, l, P_DOWN)) {
      PEFT_PROFILE_SCOPE(matmul_frozen_fwd); // out = h W_down^T + x2 in one region
      frozen_group(m, wd, yd, 1, b.h.data(), T, b.x2.data(), bf16);
    } else {
      {
        PEFT_PROFILE_SCOPE(matmul_frozen_fwd);
        frozen_group(m, wd, yd, 1, b.h.data(), T, nullptr, bf16);
      }
      {
        PEFT_PROFILE_SCOPE(lora);
        lora_rows(m, st, b, l, P_DOWN, out, b.h.data(), T);
      }
      PEFT_PROFILE_SCOPE(elementwise);
      be.add_inplace(out, b.x2.data(), T, H);
    }
    std::swap(x, out);
  }
  if (x != b.x.data()) std::swap(b.x, b.out); // keep x in b.x (an odd layer count leaves it in out)
  PEFT_PROFILE_SCOPE(elementwise);
  be.rmsnorm_forward(b.lnf.data(), nullptr, b.x.data() + (size_t)(T - 1) * H, m.norm.data(), 1, H, eps);
  cache.len += T;
}

// Logits of the normed last row: the head streamed once over the pool (its bf16 copy in bf16 compute: half the
// bytes of the largest weight a step reads).
void head_logits(const LlamaModel& m, DecodeBufs& b) {
  PEFT_PROFILE_SCOPE(lmhead_ce);
  if (!m.head8.empty() && int8_rows(m))
    m.be().decode_rows_q8(m.head8.data(), m.head8_d.data(), m.cfg.vocab_size, m.H(), b.lnf.data(), 1, b.logits.data());
  else if (!m.head16.empty() && bf16_rows(m))
    m.be().decode_rows_bf16(m.head16.data(), m.cfg.vocab_size, m.H(), b.lnf.data(), 1, b.logits.data());
  else if (!m.head16.empty())
    m.be().decode_matvec_bf16(m.head16.data(), m.cfg.vocab_size, m.H(), b.lnf.data(), 1, b.logits.data());
  else
    m.be().decode_matvec_f32(m.head(), m.cfg.vocab_size, m.H(), b.lnf.data(), 1, b.logits.data());
}

} // namespace

bool decode_bf16_rows(const LlamaModel& m) { return rows_family(m) && bf16_rows(m); }

bool decode_int8_rows(const LlamaModel& m) { return int8_rows(m); }

bool decode_all_rows(const LlamaModel& m) {
  return rows_family(m) && (bf16_rows(m) || (m.compute == kern::Compute::F32 && !m.int8 && rows_path(m)));
}

bool decode_row_path(const LlamaModel& m, int T) {
  if (bf16_rows(m) || decode_all_rows(m)) return true;
  if (!rows_path(m) && !int8_rows(m)) return false; // the int8 mode takes any shape (fp32 rows products for others)
  // the batched decoder pools a segment while its frozen products would run in fp32 in llama_forward (which takes
  // the model's compute mode from 32 rows on), up to the rows the decode products take
  return (T < 32 || m.compute == kern::Compute::F32) && T <= kern::NF4_GEMV_MAX_ROWS;
}

std::vector<int32_t> generate(const LlamaModel& m, const AdapterStack& st, const std::vector<int32_t>& prompt,
                              const GenOptions& opt, const std::atomic<bool>* cancel) {
  if (prompt.empty()) throw EngineError("E_ENGINE", "generate: the prompt is empty (at least one token id is needed)");
  const int P = (int)prompt.size(), V = m.cfg.vocab_size;
  for (int i = 0; i < P; i++)
    if (prompt[i] < 0 || prompt[i] >= V)
      throw EngineError("E_ENGINE", "generate: prompt[" + std::to_string(i) + "] = " + std::to_string(prompt[i]) +
                                        " is outside the vocabulary [0, " + std::to_string(V) + ")");
  const ModelConfig& c = m.cfg;
  if (c.gpt2 && P > c.max_position_embeddings)
    throw EngineError("E_ENGINE", "generate: the prompt has " + std::to_string(P) +
                                      " tokens, more than this GPT-2 model's context (n_positions " +
                                      std::to_string(c.max_position_embeddings) + "): shorten it");
  std::vector<int32_t> out;
  if (opt.max_tokens < 1) return out;
  KVCache cache; // GPT-2 stops when its context (n_positions) is full, as the batched decoder does
  cache.init(m, c.gpt2 ? std::min(P + opt.max_tokens, c.max_position_embeddings) : P + opt.max_tokens);
  const bool rows = decode_row_path(m, 1); // the decode steps (the bf16 and int8 modes take any shape)
  DecodeBufs b;
  const bool all_rows = rows && decode_all_rows(m); // the prompt too, as the batched decoder pools it
  const int row_max = kern::NF4_GEMV_MAX_ROWS;      // the most rows decode_row_path takes
  b.plan(m, st, all_rows ? std::max(std::min(P, PREFILL_CHUNK), row_max) : row_max);
  if (all_rows) { // in chunks, as the batched decoder prefills it
    for (int c0 = 0; c0 < P; c0 += PREFILL_CHUNK)
      forward_rows(m, st, cache, prompt.data() + c0, std::min(PREFILL_CHUNK, P - c0), b);
  } else if (decode_row_path(m, P)) {
    forward_rows(m, st, cache, prompt.data(), P, b);
  } else { // a long prompt through the matmuls, as one sequence's forward
    Workspace pre;
    pre.plan(m, st, 1, P, false, false);
    llama_forward(m, st, pre, prompt.data(), 1, P, &cache);
    m.be().copy_rows(b.lnf.data(), pre.lnf + (size_t)(P - 1) * m.H(), 1, m.H());
  }
  head_logits(m, b);
  Workspace one; // the per-token forward when the model cannot take the row path (GPT-2)
  if (!rows) one.plan(m, st, 1, 1, false, false);
  Rng rng(opt.seed);
  out.reserve(opt.max_tokens);
  for (int i = 0; i < opt.max_tokens; i++) {
    if (cancel && cancel->load()) throw EngineError("E_CANCELLED", "generation cancelled");
    int32_t id;
    {
      PEFT_PROFILE_SCOPE(sampling);
      const double lse = opt.logprobs ? m.be().row_log_sum_exp(b.logits.data(), V) : 0.0;
      id = sample_token(b.logits.data(), V, opt, rng);
      if (opt.logprobs) opt.logprobs->push_back((float)(b.logits[id] - lse));
    }
    out.push_back(id);
    if (std::find(opt.eos.begin(), opt.eos.end(), id) != opt.eos.end()) break;
    if (i + 1 == opt.max_tokens || cache.len >= cache.max_len) break;
    if (rows) {
      forward_rows(m, st, cache, &id, 1, b);
    } else {
      llama_forward(m, st, one, &id, 1, 1, &cache);
      m.be().copy_rows(b.lnf.data(), one.lnf, 1, m.H());
    }
    head_logits(m, b);
  }
  return out;
}

void score_sequence(const LlamaModel& m, const AdapterStack& st, const std::vector<int32_t>& ids,
                    std::vector<float>& logprobs, std::vector<float>* logits, std::vector<int32_t>* routing,
                    std::vector<float>* router_logits) {
  const int n = (int)ids.size();
  if (n < 1) throw EngineError("E_ENGINE", "score: the sequence is empty");
  Workspace ws;
  ws.plan(m, st, 1, n, false, false);
  if (routing && ws.moe) ws.moe->record = routing;
  if (router_logits && ws.moe) ws.moe->record_logits = router_logits;
  llama_forward(m, st, ws, ids.data(), 1, n, nullptr);
  std::vector<int32_t> targets(n, -1);
  for (int t = 0; t + 1 < n; t++) targets[t] = ids[t + 1];
  std::vector<float> lp(n);
  if (logits) logits->resize((size_t)n * m.cfg.vocab_size);
  m.be().logprobs_forward(lp.data(), logits ? logits->data() : nullptr, ws.lnf, m.head(), targets.data(), n, m.H(),
                          m.cfg.vocab_size);
  logprobs.assign(lp.begin(), lp.begin() + (n - 1));
}

} // namespace peft
