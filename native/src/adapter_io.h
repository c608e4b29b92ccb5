// LoRA adapters on disk in the PEFT format (adapter_model.safetensors keys
// base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight [r, in] / lora_B.weight [out, r]), and
// PEFT-style initialisation (A Kaiming-uniform(a=sqrt 5), B zero) from a seed.
#pragma once
#include <memory>
#include <string>
#include <vector>
#include "llama.h"

namespace peft {

// Parses a projection name ("q_proj", ...) to its index; -1 when unknown.
int proj_index(const std::string& name);
// PEFT's tensor name of a module; gpt2: base_model.model.transformer.h.{i}.attn.c_attn.lora_A.weight etc.
std::string lora_key(int layer, int proj, bool is_A, bool gpt2 = false);
// The module's path inside a layer: "self_attn.q_proj", or GPT-2's "attn.c_attn" ("" where GPT-2 has none).
std::string module_path(int proj, bool gpt2);

// Loads adapter tensors for `m`. `targets` lists the module names of adapter_config.json target_modules (a set;
// "all-linear" accepted). Every tensor must map onto a base module (E_ADAPTER naming the first that does not).
std::shared_ptr<Adapter> load_adapter(const LlamaModel& m, const std::string& safetensors_path, int r, double alpha,
                                      bool rslora, const std::vector<std::string>& targets, const std::string& name);
// Writes the adapter as fp32 PEFT safetensors (HF row order).
void save_adapter(const Adapter& a, const std::string& path);
// New adapter on the given targets: A ~ U(-1/sqrt(in), 1/sqrt(in)) from `seed`, B = 0.
std::shared_ptr<Adapter> init_adapter(const LlamaModel& m, int r, double alpha, bool rslora,
                                      const std::vector<std::string>& targets, uint64_t seed);
// Parses target names to a mask (throws E_ADAPTER on names that are not Llama projections).
// On a GPT-2 model the names are c_attn, c_proj (attn and mlp), c_fc and all-linear.
void target_mask(const std::vector<std::string>& targets, bool mask[N_PROJ], const std::string& where,
                 bool gpt2 = false);

} // namespace peft
