// Loading a GPT-2 checkpoint: wte / wpe, LayerNorms with biases, and the four Conv1D projections per block (weights
// stored [in, out], y = x W + b) transposed to the engine's [out, in] and quantised to their storage like the Llama
// family's; the tied head is wte. The expected tensor set lets load_model_dir name a missing or mis-shaped tensor.
#include "gpt2_load.h"
#include "error.h"
#include "llama_load.h"

namespace peft {

std::vector<Gpt2Tensor> gpt2_expected_tensors(const ModelConfig& c) {
  const int64_t E = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, P = c.max_position_embeddings;
  const std::string e = "n_embd " + std::to_string(E), in = "n_inner " + std::to_string(I);
  std::vector<Gpt2Tensor> t = {
      {"transformer.wte.weight", {V, E}, "vocab_size " + std::to_string(V) + ", " + e, true},
      {"transformer.wpe.weight", {P, E}, "n_positions " + std::to_string(P) + ", " + e, true},
      {"transformer.ln_f.weight", {E}, e, true},
      {"transformer.ln_f.bias", {E}, e, true},
      // GPT2LMHeadModel ties lm_head to wte; a stored copy of the right shape is accepted and ignored.
      {"lm_head.weight", {V, E}, "vocab_size, n_embd (tied to transformer.wte.weight)", false},
  };
  for (int l = 0; l < c.num_layers; l++) {
    const std::string p = "transformer.h." + std::to_string(l) + ".";
    for (const char* ln : {"ln_1", "ln_2"}) {
      t.push_back({p + ln + ".weight", {E}, e, true});
      t.push_back({p + ln + ".bias", {E}, e, true});
    }
    const std::string conv = " (Conv1D weights are [in, out])";
    t.push_back({p + "attn.c_attn.weight", {E, 3 * E}, e + " rows, 3 x n_embd columns" + conv, true});
    t.push_back({p + "attn.c_attn.bias", {3 * E}, "3 x n_embd", true});
    t.push_back({p + "attn.c_proj.weight", {E, E}, e + " rows and columns" + conv, true});
    t.push_back({p + "attn.c_proj.bias", {E}, e, true});
    t.push_back({p + "mlp.c_fc.weight", {E, I}, e + " rows, " + in + " columns" + conv, true});
    t.push_back({p + "mlp.c_fc.bias", {I}, in, true});
    t.push_back({p + "mlp.c_proj.weight", {I, E}, in + " rows, " + e + " columns" + conv, true});
    t.push_back({p + "mlp.c_proj.bias", {E}, e, true});
    // Buffers older checkpoints (the hub's DialoGPT files) carry; transformers recomputes them.
    t.push_back({p + "attn.bias", {1, 1, P, P}, "the causal-mask buffer, n_positions x n_positions", false});
    t.push_back({p + "attn.masked_bias", {}, "a scalar buffer", false});
  }
  return t;
}

void gpt2_canonical_names(ModelFiles& mf, std::map<std::string, std::string>& origin) {
  if (!mf.tensors.count("wte.weight")) return;
  std::map<std::string, TensorView> renamed;
  for (auto& [name, t] : mf.tensors) {
    const bool keep = name.rfind("transformer.", 0) == 0 || name == "lm_head.weight";
    const std::string to = keep ? name : "transformer." + name;
    if (renamed.count(to) || (!keep && mf.tensors.count(to)))
      throw EngineError("E_MODEL", origin[name] + ": tensor \"" + name + "\" is stored both with and without the " +
                                       "\"transformer.\" prefix");
    renamed[to] = t;
    if (!keep) origin[to] = origin[name];
  }
  mf.tensors = std::move(renamed);
}

std::shared_ptr<LlamaModel> load_gpt2(const ModelFiles& mf, kern::Storage storage, kern::Compute compute) {
  auto m = std::make_shared<LlamaModel>();
  m->cfg = mf.cfg;
  m->dir = mf.dir;
  m->storage = storage;
  m->compute = compute;
  const ModelConfig& c = m->cfg;
  const size_t V = c.vocab_size, E = c.hidden_size;
  m->embed = tensor_f32(mf, "transformer.wte.weight", V * E);
  m->pos_embed = tensor_f32(mf, "transformer.wpe.weight", (size_t)c.max_position_embeddings * E);
  m->norm = tensor_f32(mf, "transformer.ln_f.weight", E);
  m->norm_b = tensor_f32(mf, "transformer.ln_f.bias", E);
  m->layers.resize(c.num_layers);
  static const struct {
    Proj p;
    const char* name;
  } convs[] = {{P_Q, "attn.c_attn"}, {P_O, "attn.c_proj"}, {P_UP, "mlp.c_fc"}, {P_DOWN, "mlp.c_proj"}};
  for (int l = 0; l < c.num_layers; l++) {
    const std::string pre = "transformer.h." + std::to_string(l) + ".";
    LlamaLayer& L = m->layers[l];
    L.ln1 = tensor_f32(mf, pre + "ln_1.weight", E);
    L.ln1_b = tensor_f32(mf, pre + "ln_1.bias", E);
    L.ln2 = tensor_f32(mf, pre + "ln_2.weight", E);
    L.ln2_b = tensor_f32(mf, pre + "ln_2.bias", E);
    for (const auto& cv : convs) {
      const int in = m->proj_in(cv.p), out = m->proj_out(cv.p);
      const std::vector<float> w = tensor_f32(mf, pre + cv.name + ".weight", (size_t)in * out); // [in, out]
      const std::vector<float> b = tensor_f32(mf, pre + cv.name + ".bias", out);
      std::vector<float> wt((size_t)in * out); // [out, in]
      for (int i = 0; i < in; i++)
        for (int o = 0; o < out; o++) wt[(size_t)o * in + i] = w[(size_t)i * out + o];
      kern::Storage st = storage;
      if (st == kern::Storage::NF4 && ((size_t)in * out) % kern::NF4_BLOCK != 0) st = kern::Storage::F32;
      L.proj[cv.p] = std::make_unique<kern::FrozenLinear>(wt.data(), b.data(), out, in, st);
      if (compute == kern::Compute::BF16 && st == kern::Storage::F32 && m->be().bf16_native())
        L.proj[cv.p]->keep_bf16_copy();
    }
  }
  return m;
}

} // namespace peft
