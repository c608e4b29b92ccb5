// Reading, writing and initialising T5 LoRA adapters with PEFT's module names (SEQ_2_SEQ_LM adapters of
// T5ForConditionalGeneration), every tensor checked against the base model's shapes.
#include "t5/t5_adapter.h"
#include <cmath>
#include <map>
#include "error.h"
#include "model/safetensors.h"
#include "rng.h"

namespace peft::t5 {

float T5Adapter::scaling() const { return (float)(rslora ? alpha / std::sqrt((double)r) : alpha / r); }

size_t T5Adapter::params() const {
  size_t n = 0;
  for (auto& st : mods)
    for (auto& l : st)
      for (auto& w : l)
        if (w) n += w->A.size() + w->B.size();
  return n;
}

std::shared_ptr<T5Adapter> t5_zeros_like(const T5Adapter& a) {
  auto z = std::make_shared<T5Adapter>();
  z->name = a.name;
  z->r = a.r;
  z->alpha = a.alpha;
  z->rslora = a.rslora;
  for (int st = 0; st < 2; st++) {
    z->mods[st].resize(a.mods[st].size());
    for (size_t l = 0; l < a.mods[st].size(); l++)
      for (int s = 0; s < N_SLOT; s++)
        if (auto* w = a.mods[st][l][s].get()) {
          z->mods[st][l][s] = std::make_unique<LoraW>();
          z->mods[st][l][s]->A.assign(w->A.size(), 0.f);
          z->mods[st][l][s]->B.assign(w->B.size(), 0.f);
        }
  }
  return z;
}

static std::string module_path(int stk, int l, int s) {
  std::string p = std::string(stk == ENC ? "encoder" : "decoder") + ".block." + std::to_string(l) + ".layer.";
  if (s < C_Q) return p + "0.SelfAttention." + SLOT_NAMES[s];
  if (s <= C_O) return p + "1.EncDecAttention." + SLOT_NAMES[s];
  return p + (stk == ENC ? "1" : "2") + ".DenseReluDense." + SLOT_NAMES[s];
}

std::string t5_lora_key(int stk, int l, int s, bool isA) {
  return "base_model.model." + module_path(stk, l, s) + (isA ? ".lora_A.weight" : ".lora_B.weight");
}

void t5_target_mask(const std::vector<std::string>& targets, bool mask[N_SLOT], const std::string& where) {
  for (int s = 0; s < N_SLOT; s++) mask[s] = false;
  for (const std::string& t : targets) {
    bool hit = t == "all-linear";
    for (int s = 0; s < N_SLOT; s++)
      if (hit || t == SLOT_NAMES[s]) mask[s] = true;
    if (!hit && t != "q" && t != "k" && t != "v" && t != "o" && t != "wi_0" && t != "wi_1" && t != "wo")
      throw EngineError("E_ADAPTER", where + ": target module '" + t +
                                         "' is not a linear layer of a T5 model (q, k, v, o, wi_0, wi_1, wo or "
                                         "all-linear)");
  }
}

std::shared_ptr<T5Adapter> t5_load_adapter(const T5Model& m, const std::string& path, int r, double alpha, bool rslora,
                                           const std::vector<std::string>& targets, const std::string& name) {
  if (r <= 0) throw EngineError("E_ADAPTER", path + ": rank r must be a positive integer, got " + std::to_string(r));
  bool mask[N_SLOT];
  t5_target_mask(targets, mask, path);
  std::map<std::string, std::tuple<int, int, int, bool>> keys; // every key the model allows
  for (int stk = 0; stk < 2; stk++)
    for (int l = 0; l < m.layers(stk); l++)
      for (int s = 0; s < N_SLOT; s++)
        if (T5Model::slot_in_stack(stk, s))
          for (bool isA : {true, false}) keys[t5_lora_key(stk, l, s, isA)] = {stk, l, s, isA};
  SafetensorsFile f(path);
  auto a = std::make_shared<T5Adapter>();
  a->name = name;
  a->r = r;
  a->alpha = alpha;
  a->rslora = rslora;
  for (int stk = 0; stk < 2; stk++) a->mods[stk].resize(m.layers(stk));
  std::map<std::string, int> seen; // module -> bit 1 = A, bit 2 = B
  for (const auto& [key, t] : f.tensors()) {
    auto it = keys.find(key);
    if (it == keys.end())
      throw EngineError("E_ADAPTER", path + ": tensor '" + key +
                                         "' does not map onto a module of the T5 model (expected "
                                         "base_model.model.{encoder|decoder}.block.{i}.layer.{j}.{SelfAttention|"
                                         "EncDecAttention|DenseReluDense}.<q|k|v|o|wi_0|wi_1|wo>.lora_{A|B}.weight)");
    auto [stk, l, s, isA] = it->second;
    if (!mask[s])
      throw EngineError("E_ADAPTER", path + ": tensor '" + key + "' is on " + SLOT_NAMES[s] +
                                         ", which adapter_config.json target_modules does not list");
    const int in = m.slot_in(s), out = m.slot_out(s);
    const std::vector<int64_t> want = isA ? std::vector<int64_t>{r, in} : std::vector<int64_t>{out, r};
    if (t.shape != want)
      throw EngineError("E_ADAPTER", path + ": tensor '" + key + "' has the wrong shape, expected [" +
                                         std::to_string(want[0]) + ", " + std::to_string(want[1]) +
                                         "] (r = " + std::to_string(r) + ")");
    auto& slot = a->mods[stk][l][s];
    if (!slot) slot = std::make_unique<LoraW>();
    std::vector<float>& dst = isA ? slot->A : slot->B;
    dst.resize((size_t)want[0] * want[1]);
    t.to_f32(dst.data());
    for (float x : dst)
      if (!std::isfinite(x)) throw EngineError("E_ADAPTER", path + ": tensor '" + key + "' holds a non-finite value");
    seen[module_path(stk, l, s)] |= isA ? 1 : 2;
  }
  for (const auto& [mod, bits] : seen)
    if (bits != 3)
      throw EngineError("E_ADAPTER",
                        path + ": module " + mod + " has lora_" + (bits == 1 ? "A but no lora_B" : "B but no lora_A"));
  if (seen.empty()) throw EngineError("E_ADAPTER", path + ": the file holds no LoRA tensors");
  return a;
}

void t5_save_adapter(const T5Adapter& a, const std::string& path) {
  std::vector<NamedTensor> ts;
  const int64_t r = a.r;
  t5_for_each_tensor(a, [&](const std::string& key, const std::vector<float>& v) {
    const bool isA = key.size() > 14 && key.compare(key.size() - 14, 14, ".lora_A.weight") == 0;
    const int64_t other = (int64_t)v.size() / r;
    ts.push_back({key, isA ? std::vector<int64_t>{r, other} : std::vector<int64_t>{other, r}, v.data()});
  });
  write_safetensors_f32(path, ts);
}

std::shared_ptr<T5Adapter> t5_init_adapter(const T5Model& m, int r, double alpha, bool rslora,
                                           const std::vector<std::string>& targets, uint64_t seed) {
  if (r <= 0) throw EngineError("E_ADAPTER", "LoRA rank r must be a positive integer, got " + std::to_string(r));
  bool mask[N_SLOT];
  t5_target_mask(targets, mask, "lora.targets");
  auto a = std::make_shared<T5Adapter>();
  a->r = r;
  a->alpha = alpha;
  a->rslora = rslora;
  Rng rng(seed);
  for (int stk = 0; stk < 2; stk++) {
    a->mods[stk].resize(m.layers(stk));
    for (int l = 0; l < m.layers(stk); l++)
      for (int s = 0; s < N_SLOT; s++)
        if (mask[s] && T5Model::slot_in_stack(stk, s)) {
          auto w = std::make_unique<LoraW>();
          w->A.resize((size_t)r * m.slot_in(s));
          w->B.assign((size_t)m.slot_out(s) * r, 0.f);
          const double bound = 1.0 / std::sqrt((double)m.slot_in(s));
          for (float& x : w->A) x = (float)((rng.uniform() * 2.0 - 1.0) * bound);
          a->mods[stk][l][s] = std::move(w);
        }
  }
  return a;
}

} // namespace peft::t5
