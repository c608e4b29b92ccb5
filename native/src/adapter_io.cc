// Reading and writing PEFT LoRA adapters (safetensors, fp32, PEFT tensor names) and seeded PEFT-style init.
#include "adapter_io.h"
#include <cmath>
#include <map>
#include "error.h"
#include "model/safetensors.h"
#include "moe/moe.h"
#include "rng.h"

namespace peft {

int proj_index(const std::string& name) {
  for (int p = 0; p < N_PROJ; p++)
    if (name == PROJ_NAMES[p]) return p;
  return -1;
}

// GPT-2's Conv1D modules on the engine's projections (llama.h); "" where GPT-2 has none.
static const char* const GPT2_MODULES[N_PROJ] = {"attn.c_attn", "", "", "attn.c_proj", "", "mlp.c_fc", "mlp.c_proj"};

std::string module_path(int proj, bool gpt2) {
  if (proj >= N_PROJ) // an expert's linear (moe/moe.h slots)
    return "block_sparse_moe.experts." + std::to_string((proj - N_PROJ) / 3) + "." + EXPERT_NAMES[(proj - N_PROJ) % 3];
  return gpt2 ? std::string(GPT2_MODULES[proj]) : std::string(PROJ_PARENT[proj]) + "." + PROJ_NAMES[proj];
}

static std::string layers_prefix(bool gpt2) {
  return gpt2 ? "base_model.model.transformer.h." : "base_model.model.model.layers.";
}

std::string lora_key(int layer, int proj, bool is_A, bool gpt2) {
  return layers_prefix(gpt2) + std::to_string(layer) + "." + module_path(proj, gpt2) +
         (is_A ? ".lora_A.weight" : ".lora_B.weight");
}

// GPT-2 target names as PEFT matches them (by the module's last name): c_proj is both attn.c_proj and mlp.c_proj;
// all-linear is every Conv1D layer (the tied lm_head is excluded, as PEFT excludes the output layer).
static void gpt2_target_mask(const std::vector<std::string>& targets, bool mask[N_PROJ], const std::string& where) {
  for (const std::string& t : targets) {
    if (t == "all-linear" || t == "c_attn") mask[P_Q] = true;
    if (t == "all-linear" || t == "c_proj") mask[P_O] = mask[P_DOWN] = true;
    if (t == "all-linear" || t == "c_fc") mask[P_UP] = true;
    if (t != "all-linear" && t != "c_attn" && t != "c_proj" && t != "c_fc")
      throw EngineError("E_ADAPTER", where + ": target module '" + t +
                                         "' is not a module of this GPT-2 model (c_attn, c_proj, c_fc or all-linear)");
  }
}

void target_mask(const std::vector<std::string>& targets, bool mask[N_PROJ], const std::string& where, bool gpt2,
                 bool* expert_mask) {
  for (int p = 0; p < N_PROJ; p++) mask[p] = false;
  for (int j = 0; j < N_EXPERT_PROJ; j++)
    if (expert_mask) expert_mask[j] = false;
  if (gpt2) return gpt2_target_mask(targets, mask, where);
  for (const std::string& t : targets) {
    if (t == "all-linear") { // every linear layer but the output head (and a MoE router, kept frozen)
      for (int p = 0; p < N_PROJ; p++) mask[p] = !expert_mask || p < P_GATE;
      for (int j = 0; j < N_EXPERT_PROJ; j++)
        if (expert_mask) expert_mask[j] = true;
      continue;
    }
    int e = -1;
    for (int j = 0; j < N_EXPERT_PROJ; j++)
      if (t == EXPERT_NAMES[j]) e = j;
    if (e >= 0 && expert_mask) {
      expert_mask[e] = true;
      continue;
    }
    if (expert_mask && (t == "gate" || t == "gate_proj" || t == "up_proj" || t == "down_proj"))
      throw EngineError("E_ADAPTER", where + ": target module '" + t +
                                         "' is not supported on a mixture-of-experts model: " +
                                         (t == "gate" ? "the router stays frozen" : "it has no dense MLP") +
                                         " (target q_proj, k_proj, v_proj, o_proj and the experts' w1, w2, w3)");
    const int p = proj_index(t);
    if (p < 0 || (expert_mask && p >= P_GATE))
      throw EngineError("E_ADAPTER", where + ": target module '" + t +
                                         "' is not a projection of this model (q_proj, k_proj, v_proj, o_proj, "
                                         "gate_proj, up_proj, down_proj or all-linear; in a mixture-of-experts model "
                                         "w1, w2, w3 instead of the last three)");
    mask[p] = true;
  }
}

// "base_model.model.model.layers.{l}.{parent}.{proj}.lora_{A|B}.weight" -> (l, proj, isA); false when it does not parse.
static bool parse_key(const std::string& k, int& layer, int& proj, bool& isA, bool gpt2) {
  const std::string pre = layers_prefix(gpt2);
  if (k.compare(0, pre.size(), pre) != 0) return false;
  size_t i = pre.size(), j = i;
  while (j < k.size() && isdigit((unsigned char)k[j])) j++;
  if (j == i || j - i > 6 || j >= k.size() || k[j] != '.') return false;
  layer = std::stoi(k.substr(i, j - i));
  std::string rest = k.substr(j + 1);
  static const std::string ex = "block_sparse_moe.experts.";
  if (!gpt2 && rest.compare(0, ex.size(), ex) == 0) { // block_sparse_moe.experts.{e}.w{1,2,3}.lora_{A|B}.weight
    size_t a = ex.size(), b = a;
    while (b < rest.size() && isdigit((unsigned char)rest[b])) b++;
    if (b == a || b - a > 6 || b >= rest.size() || rest[b] != '.') return false;
    const int e = std::stoi(rest.substr(a, b - a));
    for (int x = 0; x < N_EXPERT_PROJ; x++)
      for (int A = 0; A < 2; A++)
        if (rest.substr(b + 1) == std::string(EXPERT_NAMES[x]) + (A ? ".lora_A.weight" : ".lora_B.weight")) {
          proj = expert_slot(e, x);
          isA = A == 1;
          return true;
        }
    return false;
  }
  for (int p = 0; p < N_PROJ; p++) {
    const std::string base = module_path(p, gpt2);
    if (base.empty()) continue;
    if (rest == base + ".lora_A.weight") {
      proj = p;
      isA = true;
      return true;
    }
    if (rest == base + ".lora_B.weight") {
      proj = p;
      isA = false;
      return true;
    }
  }
  return false;
}

std::shared_ptr<Adapter> load_adapter(const LlamaModel& m, const std::string& path, int r, double alpha, bool rslora,
                                      const std::vector<std::string>& targets, const std::string& name) {
  if (r <= 0) throw EngineError("E_ADAPTER", path + ": rank r must be a positive integer, got " + std::to_string(r));
  bool mask[N_PROJ], xmask[N_EXPERT_PROJ];
  target_mask(targets, mask, path, m.gpt2(), m.cfg.num_experts ? xmask : nullptr);
  SafetensorsFile f(path);
  auto a = std::make_shared<Adapter>();
  a->name = name;
  a->r = r;
  a->alpha = alpha;
  a->rslora = rslora;
  a->gpt2 = m.gpt2();
  a->mods.resize(m.cfg.num_layers);
  for (auto& l : a->mods) l.resize(m.n_slots());
  std::map<std::pair<int, int>, int> seen; // (layer, proj) -> bit 1 = A, bit 2 = B
  for (const auto& [key, t] : f.tensors()) {
    int l = 0, p = 0;
    bool isA = false;
    if (!parse_key(key, l, p, isA, m.gpt2()) || l >= m.cfg.num_layers || p >= m.n_slots() ||
        (m.cfg.num_experts && p >= P_GATE && p < N_PROJ))
      throw EngineError("E_ADAPTER",
                        path + ": tensor '" + key + "' does not map onto a module of the base model (expected " +
                            layers_prefix(m.gpt2()) + "{0.." + std::to_string(m.cfg.num_layers - 1) +
                            (m.gpt2()            ? "}.{attn.c_attn|attn.c_proj|mlp.c_fc|mlp.c_proj}"
                             : m.cfg.num_experts ? "}.{self_attn.<proj>|block_sparse_moe.experts.{0.." +
                                                       std::to_string(m.cfg.num_experts - 1) + "}.w{1,2,3}}"
                                                 : "}.{self_attn|mlp}.<proj>") +
                            ".lora_{A|B}.weight)");
    if (!(p < N_PROJ ? mask[p] : xmask[(p - N_PROJ) % 3]))
      throw EngineError("E_ADAPTER", path + ": tensor '" + key + "' is on " + module_path(p, m.gpt2()) +
                                         ", which adapter_config.json target_modules does not list");
    const int in = m.proj_in(p), out = m.proj_out(p);
    const std::vector<int64_t> want = isA ? std::vector<int64_t>{r, in} : std::vector<int64_t>{out, r};
    if (t.shape != want)
      throw EngineError("E_ADAPTER",
                        path + ": tensor '" + key + "' has shape [" +
                            (t.shape.size() == 2 ? std::to_string(t.shape[0]) + ", " + std::to_string(t.shape[1])
                                                 : std::string("?")) +
                            "], expected [" + std::to_string(want[0]) + ", " + std::to_string(want[1]) +
                            "] (r = " + std::to_string(r) + ")");
    if (!a->mods[l][p]) a->mods[l][p] = std::make_unique<LoraWeights>();
    std::vector<float>& dst = isA ? a->mods[l][p]->A : a->mods[l][p]->B;
    dst.resize((size_t)want[0] * want[1]);
    t.to_f32(dst.data());
    for (float x : dst)
      if (!std::isfinite(x)) throw EngineError("E_ADAPTER", path + ": tensor '" + key + "' holds a non-finite value");
    seen[{l, p}] |= isA ? 1 : 2;
  }
  for (const auto& [lp, bits] : seen)
    if (bits != 3)
      throw EngineError("E_ADAPTER", path + ": module layers." + std::to_string(lp.first) + "." +
                                         module_path(lp.second, m.gpt2()) + " has lora_" +
                                         (bits == 1 ? "A but no lora_B" : "B but no lora_A"));
  if (seen.empty()) throw EngineError("E_ADAPTER", path + ": the file holds no LoRA tensors");
  return a;
}

void save_adapter(const Adapter& a, const std::string& path) {
  std::vector<NamedTensor> ts;
  for (size_t l = 0; l < a.mods.size(); l++)
    for (int p = 0; p < (int)a.mods[l].size(); p++)
      if (const LoraWeights* w = a.mods[l][p].get()) {
        const int64_t r = a.r;
        ts.push_back({lora_key((int)l, p, true, a.gpt2), {r, (int64_t)(w->A.size() / r)}, w->A.data()});
        ts.push_back({lora_key((int)l, p, false, a.gpt2), {(int64_t)(w->B.size() / r), r}, w->B.data()});
      }
  write_safetensors_f32(path, ts);
}

std::shared_ptr<Adapter> init_adapter(const LlamaModel& m, int r, double alpha, bool rslora,
                                      const std::vector<std::string>& targets, uint64_t seed) {
  if (r <= 0) throw EngineError("E_ADAPTER", "LoRA rank r must be a positive integer, got " + std::to_string(r));
  bool mask[N_PROJ], xmask[N_EXPERT_PROJ];
  target_mask(targets, mask, "lora.targets", m.gpt2(), m.cfg.num_experts ? xmask : nullptr);
  auto a = make_adapter(m, r, alpha, rslora, mask, m.cfg.num_experts ? xmask : nullptr);
  Rng rng(seed);
  for (size_t l = 0; l < a->mods.size(); l++)
    for (int p = 0; p < (int)a->mods[l].size(); p++)
      if (LoraWeights* w = a->mods[l][p].get()) {
        const double bound = 1.0 / std::sqrt((double)m.proj_in(p)); // kaiming_uniform(a=sqrt(5)) on [r, in]
        for (float& x : w->A) x = (float)((rng.uniform() * 2.0 - 1.0) * bound);
      }
  return a;
}

} // namespace peft
