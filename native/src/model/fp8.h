// FP8 (float8_e4m3fn) checkpoints with block-wise `<weight>_scale_inv` scales (DeepSeek-V3 / MiniMax-M2 layout):
// config.json's quantization_config, the scale checks at load, and the dequantisation of one tensor at a time.
#pragma once
#include <string>
#include "model/config.h"
#include "model/json.h"
#include "model/safetensors.h"

namespace peft {

// Reads quantization_config (absent, or quant_method "fp8" with weight_block_size [rows, cols]) into cfg; any other
// method or an activation scheme the engine does not run is an E_MODEL error naming the key.
void parse_quantization_config(const json::Value& root, const std::string& file, ModelConfig& cfg);

// "<base>_scale_inv" -> "<base>", else "".
std::string fp8_scale_base(const std::string& name);
// True when `name` is the block-scale tensor of an expected FP8 weight (base_expected: its base name is a weight of
// the model); an orphan scale (its weight absent or not FP8) is an E_MODEL error naming `file`.
bool fp8_scale_of(const ModelFiles& mf, const std::string& name, bool base_expected, const std::string& file);
// An F8_E4M3 tensor must have its scales, shaped [ceil(rows / block rows), ceil(cols / block cols)] (E_MODEL naming
// the file and tensor otherwise); other tensors pass.
void check_fp8_scales(const ModelFiles& mf, const TensorView& t, const std::string& file);
// out[rows, cols] = e4m3(w) * scale_inv of its block.
void fp8_dequantize(const TensorView& w, const TensorView& scale_inv, int block_rows, int block_cols, float* out);

} // namespace peft
