// Loading the MoE / MiniMax-M2 parts of a layer (router, correction bias, experts, q/k norms) and their size.
#pragma once
#include "llama.h"
#include "model/safetensors.h"

namespace peft {

// Reads layer l's router (fp32), correction bias, experts (in m.storage: NF4 where whole blocks, a bf16 copy for
// bf16 compute) and q/k norm weights into m.layers[l]; nothing for a dense model. Shapes were checked by
// load_model_dir.
void load_moe_layer(const ModelFiles& mf, LlamaModel& m, int l);
size_t moe_layer_bytes(const LlamaLayer& L);  // frozen bytes as stored
size_t moe_layer_params(const LlamaLayer& L); // parameter count

} // namespace peft
