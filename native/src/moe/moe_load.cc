// Loads a MoE layer's router, correction bias and experts (frozen, quantisable like the other projections) and
// MiniMax-M2's q/k norm weights, one tensor at a time (FP8 experts dequantised per tensor, then stored).
#include "moe/moe_load.h"
#include "llama_load.h"
#include "moe/moe.h"

namespace peft {

void load_moe_layer(const ModelFiles& mf, LlamaModel& m, int l) {
  const ModelConfig& c = m.cfg;
  LlamaLayer& L = m.layers[l];
  const std::string pre = "model.layers." + std::to_string(l) + ".";
  if (c.qk_norm) {
    L.q_norm = tensor_f32(mf, pre + "self_attn.q_norm.weight", m.Dq());
    L.k_norm = tensor_f32(mf, pre + "self_attn.k_norm.weight", m.Dkv());
  }
  if (c.num_experts == 0) return;
  const int E = c.num_experts, H = m.H(), I = m.I();
  auto B = std::make_shared<MoeBlock>();
  const std::string moe = pre + "block_sparse_moe.";
  std::vector<float> g = tensor_f32(mf, moe + "gate.weight", (size_t)E * H);
  B->gate = std::make_unique<kern::FrozenLinear>(g.data(), nullptr, E, H, kern::Storage::F32);
  if (c.router_bias) B->bias = tensor_f32(mf, moe + "e_score_correction_bias", E);
  B->experts.resize(E);
  for (int e = 0; e < E; e++)
    for (int j = 0; j < N_EXPERT_PROJ; j++) {
      const int in = j == X_W2 ? I : H, out = j == X_W2 ? H : I;
      const std::string name = moe + "experts." + std::to_string(e) + "." + EXPERT_NAMES[j];
      B->experts[e][j] = frozen_linear(mf, name, out, in, m.storage); // bf16 -> NF4 straight from the mapping
      if (m.compute == kern::Compute::BF16 && B->experts[e][j]->storage() == kern::Storage::F32 && m.be().bf16_native())
        B->experts[e][j]->keep_bf16_copy();
    }
  L.moe = std::move(B);
}

size_t moe_layer_bytes(const LlamaLayer& L) {
  size_t b = (L.q_norm.size() + L.k_norm.size()) * sizeof(float);
  if (!L.moe) return b;
  b += L.moe->gate->bytes() + L.moe->bias.size() * sizeof(float);
  for (auto& e : L.moe->experts)
    for (auto& w : e) b += w->bytes();
  return b;
}

size_t moe_layer_params(const LlamaLayer& L) {
  size_t n = L.q_norm.size() + L.k_norm.size();
  if (!L.moe) return n;
  n += (size_t)L.moe->gate->in() * L.moe->gate->out() + L.moe->bias.size();
  for (auto& e : L.moe->experts)
    for (auto& w : e) n += (size_t)w->in() * w->out();
  return n;
}

} // namespace peft
