// The GPT-2 family (model_type gpt2: GPT2LMHeadModel, DialoGPT) in the engine's decoder (llama.h): the tensors a
// checkpoint holds, and loading them with the Conv1D [in, out] weights transposed into the engine's [out, in].
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include "llama.h"
#include "model/safetensors.h"

namespace peft {

struct Gpt2Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string why; // which config keys imply the shape
  bool required;
};
// Every tensor a GPT-2 checkpoint may hold (transformers' names, Conv1D shapes), for model/model_dir.cc.
std::vector<Gpt2Tensor> gpt2_expected_tensors(const ModelConfig& c);

// Names GPT-2 tensors as GPT2LMHeadModel saves them: checkpoints written from GPT2Model (the hub's original gpt2
// files: wte.weight, h.0.attn.c_attn.weight, ...) get the "transformer." prefix (origin: tensor -> file, kept in step).
void gpt2_canonical_names(ModelFiles& mf, std::map<std::string, std::string>& origin);

// Builds the model from an already checked directory (load_model_dir): c_attn -> P_Q, attn.c_proj -> P_O,
// mlp.c_fc -> P_UP, mlp.c_proj -> P_DOWN; frozen weights stored as `storage`.
std::shared_ptr<LlamaModel> load_gpt2(const ModelFiles& mf, kern::Storage storage, kern::Compute compute);

} // namespace peft
