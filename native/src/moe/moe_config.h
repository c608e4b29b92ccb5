// config.json keys of the sparse mixture-of-experts families (mixtral, minimax_m2): experts, router, and MiniMax-M2's
// attention details (q/k norm over the full projection width, partial rotary), with the hub's key names mapped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include "model/config.h"
#include "model/json.h"

namespace peft {

// True for the model types whose MLP is a sparse MoE block (mixtral, minimax_m2).
bool is_moe_model_type(const std::string& model_type);

// Reads the MoE and MiniMax-M2 keys of `root` into cfg (after the common keys). Throws EngineError(E_MODEL) naming the
// file and key for an unknown router (scoring_func), a feature the engine does not implement (shared experts, router
// jitter, a qk norm other than per layer) or an inconsistent value.
void parse_moe_config(const json::Value& root, const std::string& file, ModelConfig& cfg);

// The checkpoint tensors of layer l that a MoE / MiniMax-M2 config implies beyond the Llama attention and norms
// (router, correction bias, experts, q/k norms), with the shape and the config keys that imply it.
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string why;
};
std::vector<ExpectedTensor> moe_expected_tensors(const ModelConfig& c, int l);

} // namespace peft
