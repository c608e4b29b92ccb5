// The model configuration the engine runs, parsed from a Hugging Face config.json with transformers'
// per-model-type defaults, and the RoPE frequencies it implies (default, linear, dynamic NTK, llama3).
#pragma once
#include <string>
#include <vector>

namespace peft {

struct RopeScaling {
  std::string type = "none"; // none | linear | dynamic | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;                // llama3
  double high_freq_factor = 4.0;               // llama3
  int original_max_position_embeddings = 8192; // llama3
};

struct ModelConfig {
  std::string model_type; // llama | mistral | qwen2 | mixtral | minimax_m2 (config.json "model_type")
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0; // hidden_size / num_heads unless config.json says otherwise
  int max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = true;
  int sliding_window = 0;      // 0 = full causal attention
  bool attention_bias = false; // q/k/v/o biases (loaded for whichever projections have them)
  bool mlp_bias = false;
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;
  std::string torch_dtype = "float32";
  // Extensions (kept after the original fields):
  std::string architecture;        // architectures[0] when present, e.g. LlamaForCausalLM
  std::string hidden_act = "silu"; // silu (swish accepted as its alias)
  bool qkv_bias = false;           // q/k/v_proj carry a bias (llama attention_bias, always for qwen2)
  bool o_bias = false;             // o_proj carries a bias (llama attention_bias; never for qwen2)
  int pad_token_id = -1;
  // Sparse mixture of experts (mixtral, minimax_m2; moe/moe_config.cc). num_experts 0: the dense SwiGLU MLP.
  int num_experts = 0;
  int experts_per_tok = 0;
  bool router_sigmoid = false;       // false: softmax over all experts (Mixtral); true: sigmoid scores (MiniMax-M2)
  bool router_bias = false;          // e_score_correction_bias added to the scores for the choice only (MiniMax-M2)
  double router_aux_loss_coef = 0.0; // the load-balancing loss's weight in the training loss (moe/moe_aux.cc)
  bool output_router_logits = false; // transformers adds that loss only when this is true
  bool qk_norm = false;              // RMSNorm over the full q / k projection width before RoPE (MiniMax-M2)
  int rotary_dim = 0;                // rotated dims per head (partial rotary); 0 = head_dim
  // FP8 checkpoints (quantization_config, model/fp8.cc): the block of one weight_scale_inv value
  int fp8_block_rows = 128, fp8_block_cols = 128;
  // GPT-2 family (model_type gpt2, parsed by model/config_gpt2.cc): LayerNorm with bias (eps in rms_norm_eps), learned
  // positions (max_position_embeddings = n_positions), gelu_new MLP (intermediate_size = n_inner), one fused c_attn.
  bool gpt2 = false;
};

namespace json {
struct Value;
}
// The GPT-2 part of parse_model_config (model/config_gpt2.cc): `cfg` holds model_type / architecture so far.
ModelConfig parse_gpt2_config(const json::Value& root, const std::string& file, ModelConfig cfg);

// Parse config.json text (file named for errors). Throws EngineError(E_MODEL) naming the key and the fix.
ModelConfig parse_model_config(const std::string& json_text, const std::string& file);

// Applies generation_config.json (its bos/eos/pad ids override config.json's, as transformers' generate does).
void apply_generation_config(ModelConfig& cfg, const std::string& json_text, const std::string& file);

// Reads <dir>/config.json and, when present, <dir>/generation_config.json. Throws EngineError(E_MODEL).
ModelConfig load_model_config(const std::string& dir);

// RoPE inverse frequencies (head_dim/2 values) for a forward over `seq_len` positions. Dynamic NTK
// depends on seq_len as transformers computes it for that length; the others do not. Also returns the
// position multiplier (1/factor for linear scaling, else 1) through `pos_scale`.
std::vector<double> rope_inv_freq(const ModelConfig& cfg, int seq_len, double* pos_scale);

} // namespace peft
