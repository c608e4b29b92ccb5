// The GPT-2 block on the engine's decoder (llama.h): LayerNorm (with bias) -> fused c_attn (q | k | v, biased) ->
// causal attention without RoPE -> attn.c_proj -> residual; LayerNorm -> mlp.c_fc -> gelu_new -> mlp.c_proj ->
// residual; and its backward to the trainable LoRA's gradients. Learned absolute positions are added to the
// embeddings. Every op runs through the model's Backend; projections and LoRA through llama.cc's groups.
#include "error.h"
#include "llama_blocks.h"
#include "profile.h"

namespace peft {

void gpt2_add_positions(const LlamaModel& m, Workspace& ws, int B, int T) {
  const int P = m.cfg.max_position_embeddings, H = m.H();
  if (ws.pos0 + T > P)
    throw EngineError("E_ENGINE", "sequence of " + std::to_string(ws.pos0 + T) +
                                      " tokens is longer than this GPT-2 model's context (n_positions " +
                                      std::to_string(P) + " in config.json): shorten it to at most " +
                                      std::to_string(P) + " tokens");
  PEFT_PROFILE_SCOPE(elementwise);
  for (int b = 0; b < B; b++)
    m.be().add_inplace(ws.resid[0] + (size_t)b * T * H, m.pos_embed.data() + (size_t)ws.pos0 * H, T, H);
}

void gpt2_layer_forward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, int l, LayerActs& a, const float* x,
                        float* out, KVCache* cache) {
  const int N = ws.N, H = m.H(), D = m.Dq(), I = m.I();
  const LlamaLayer& L = m.layers[l];
  const float eps = (float)m.cfg.rms_norm_eps;
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().layernorm_forward(ws.ln, a.mean1, a.rstd1, x, L.ln1.data(), L.ln1_b.data(), N, H, eps);
  }
  {
    const int ps[1] = {P_Q};
    float* const ys[1] = {ws.qkv};
    float* const lus[1] = {a.lu[P_Q]};
    group_forward(m, st, ws, l, ps, 1, ys, ws.ln, N, lus);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().copy_cols(a.q, D, ws.qkv, 3 * D, N, D);
    m.be().copy_cols(a.k, D, ws.qkv + D, 3 * D, N, D);
    m.be().copy_cols(a.v, D, ws.qkv + 2 * D, 3 * D, N, D);
  }
  attention_and_output(m, st, ws, l, a, D, cache);
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().add_inplace(a.x2, x, N, H);
    m.be().layernorm_forward(ws.ln, a.mean2, a.rstd2, a.x2, L.ln2.data(), L.ln2_b.data(), N, H, eps);
  }
  {
    const int ps[1] = {P_UP};
    float* const ys[1] = {a.u};
    float* const lus[1] = {a.lu[P_UP]};
    group_forward(m, st, ws, l, ps, 1, ys, ws.ln, N, lus);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().gelu_new_forward(ws.h, a.u, (size_t)N * I);
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

// ws.dres holds d(block output) on entry and d(block input) on exit.
void gpt2_layer_backward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, Adapter& grad, int l,
                         const LayerActs& a, const float* x) {
  const int N = ws.N, B = ws.B, T = ws.T, H = m.H(), D = m.Dq(), I = m.I();
  const LlamaLayer& L = m.layers[l];
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().gelu_new_forward(ws.h, a.u, (size_t)N * I); // recomputed
  }
  {
    const int ps[1] = {P_DOWN};
    const float* const dys[1] = {ws.dres};
    const float* const lus[1] = {a.lu[P_DOWN]};
    group_backward(m, st, ws, grad, l, ps, 1, ws.dh, dys, ws.h, lus, N);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().gelu_new_backward(ws.du, ws.dh, a.u, (size_t)N * I);
    m.be().layernorm_apply(ws.ln, a.x2, L.ln2.data(), L.ln2_b.data(), a.mean2, a.rstd2, N, H); // ln_2 recomputed
  }
  {
    const int ps[1] = {P_UP};
    const float* const dys[1] = {ws.du};
    const float* const lus[1] = {a.lu[P_UP]};
    group_backward(m, st, ws, grad, l, ps, 1, ws.dln, dys, ws.ln, lus, N);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().layernorm_backward(ws.dres, ws.dln, a.x2, L.ln2.data(), a.mean2, a.rstd2, N, H);
  }
  {
    const int ps[1] = {P_O};
    const float* const dys[1] = {ws.dres};
    const float* const lus[1] = {a.lu[P_O]};
    group_backward(m, st, ws, grad, l, ps, 1, ws.datt, dys, a.att, lus, N);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().zero(ws.dk, (size_t)N * D);
    m.be().zero(ws.dv, (size_t)N * D);
  }
  {
    PEFT_PROFILE_SCOPE(attention);
    m.be().attention_backward(ws.dq, ws.dk, ws.dv, ws.datt, a.att, a.q, a.k, a.v, a.lse, attn_shape(m, T, T, 0, D, B));
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().copy_cols(ws.qkv, 3 * D, ws.dq, D, N, D); // d(q | k | v): the fused c_attn's output gradient
    m.be().copy_cols(ws.qkv + D, 3 * D, ws.dk, D, N, D);
    m.be().copy_cols(ws.qkv + 2 * D, 3 * D, ws.dv, D, N, D);
    m.be().layernorm_apply(ws.ln, x, L.ln1.data(), L.ln1_b.data(), a.mean1, a.rstd1, N, H); // ln_1 recomputed
  }
  {
    const int ps[1] = {P_Q};
    const float* const dys[1] = {ws.qkv};
    const float* const lus[1] = {a.lu[P_Q]};
    group_backward(m, st, ws, grad, l, ps, 1, ws.dln, dys, ws.ln, lus, N);
  }
  {
    PEFT_PROFILE_SCOPE(elementwise);
    m.be().layernorm_backward(ws.dres, ws.dln, x, L.ln1.data(), a.mean1, a.rstd1, N, H);
  }
}

} // namespace peft
