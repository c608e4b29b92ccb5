// Loading a Llama-family model from a Hugging Face directory into a LlamaModel (config, weights, quantisation).
#pragma once
#include <memory>
#include <string>
#include <vector>
#include "llama.h"
#include "model/safetensors.h"

namespace peft {

// Loads config.json + safetensors of a HF Llama-family directory; linear weights stored as `storage` (NF4 where a
// projection's size is a whole number of NF4 blocks), with a bf16 copy of fp32 weights for bf16 compute.
// One tensor of a checked model directory as fp32 (FP8 weights dequantised with their block scales; E_MODEL naming it
// when missing or of another size).
std::vector<float> tensor_f32(const ModelFiles& mf, const std::string& name, size_t expect);
// The frozen projection `base`.weight [out, in] (+ `base`.bias when present) in `storage` (fp32 where NF4 does not fit
// whole blocks): bf16 weights go to NF4 block by block straight from the mapping (kern::nf4_quantize_bf16), others
// through one fp32 copy of that tensor.
std::unique_ptr<kern::FrozenLinear> frozen_linear(const ModelFiles& mf, const std::string& base, int out, int in,
                                                  kern::Storage storage);

std::shared_ptr<LlamaModel> load_llama(const std::string& dir, kern::Storage storage, kern::Compute compute);
// int8 compute on a loaded model (fp32 compute otherwise): decoding's NF4 products in int8 and the head quantised to
// int8 per 32 inputs (LlamaModel::int8). Training and prompts of 32 rows or more still compute in fp32.
void enable_int8_decoding(LlamaModel& m);

} // namespace peft
