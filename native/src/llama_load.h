// Loading a Llama-family model from a Hugging Face directory into a LlamaModel (config, weights, quantisation).
#pragma once
#include <memory>
#include <string>
#include "llama.h"
#include "model/safetensors.h"

namespace peft {

// Loads config.json + safetensors of a HF Llama-family directory; linear weights stored as `storage` (NF4 where a
// projection's size is a whole number of NF4 blocks), with a bf16 copy of fp32 weights for bf16 compute.
// One tensor of a checked model directory as fp32 (E_MODEL naming it when missing or of another size).
std::vector<float> tensor_f32(const ModelFiles& mf, const std::string& name, size_t expect);

std::shared_ptr<LlamaModel> load_llama(const std::string& dir, kern::Storage storage, kern::Compute compute);

} // namespace peft
