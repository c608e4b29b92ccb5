// Parses a GPT-2 config.json (model_type gpt2, GPT2LMHeadModel: DialoGPT) into ModelConfig with GPT2Config's
// defaults, refusing the options the engine does not run (cross-attention, other activations, untied heads).
#include <sstream>

#include "error.h"
#include "model/config.h"
#include "model/json.h"

namespace peft {
namespace {

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw EngineError("E_MODEL", file + ": " + msg);
}

const json::Value* opt(const json::Value& root, const std::string& key) {
  const json::Value* v = root.get(key);
  return (v && !v->is_null()) ? v : nullptr;
}

int integer(const json::Value& root, const std::string& file, const std::string& key, int def, int min) {
  const json::Value* v = opt(root, key);
  if (!v) return def;
  if (!v->is_number() || !v->is_integer || v->integer < min || v->integer > 2147483647LL)
    fail(file, "key \"" + key + "\" must be an integer >= " + std::to_string(min));
  return (int)v->integer;
}

double number(const json::Value& root, const std::string& file, const std::string& key, double def) {
  const json::Value* v = opt(root, key);
  if (!v) return def;
  if (!v->is_number() || !(v->number > 0)) fail(file, "key \"" + key + "\" must be a positive number");
  return v->number;
}

bool boolean(const json::Value& root, const std::string& file, const std::string& key, bool def) {
  const json::Value* v = opt(root, key);
  if (!v) return def;
  if (!v->is_bool()) fail(file, "key \"" + key + "\" must be true or false");
  return v->boolean;
}

// A token id key: absent = def, null = none (-1), else a non-negative integer inside the vocabulary.
int token(const json::Value& root, const std::string& file, const std::string& key, int def, int vocab) {
  const json::Value* v = root.get(key);
  if (!v) return def < vocab ? def : -1;
  if (v->is_null()) return -1;
  const json::Value* x = v->is_array() && !v->array.empty() ? &v->array[0] : v;
  if (!x->is_number() || !x->is_integer || x->integer < 0)
    fail(file, "key \"" + key + "\" must be a token id (non-negative integer)");
  if (x->integer >= vocab)
    fail(file, "key \"" + key + "\" = " + std::to_string(x->integer) + " is outside the vocabulary (vocab_size " +
                   std::to_string(vocab) + ")");
  return (int)x->integer;
}

} // namespace

ModelConfig parse_gpt2_config(const json::Value& root, const std::string& file, ModelConfig cfg) {
  if (!cfg.architecture.empty() && cfg.architecture != "GPT2LMHeadModel")
    fail(file, "architecture \"" + cfg.architecture +
                   "\" is not supported for model_type \"gpt2\"; expected \"GPT2LMHeadModel\" (a causal LM head)");
  cfg.architecture = "GPT2LMHeadModel";
  cfg.gpt2 = true;
  cfg.vocab_size = integer(root, file, "vocab_size", 50257, 1);
  cfg.hidden_size = integer(root, file, "n_embd", 768, 1);
  cfg.num_layers = integer(root, file, "n_layer", 12, 1);
  cfg.num_heads = integer(root, file, "n_head", 12, 1);
  cfg.num_kv_heads = cfg.num_heads;
  if (cfg.hidden_size % cfg.num_heads != 0)
    fail(file,
         "n_embd " + std::to_string(cfg.hidden_size) + " is not divisible by n_head " + std::to_string(cfg.num_heads));
  cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  cfg.intermediate_size = integer(root, file, "n_inner", 4 * cfg.hidden_size, 1); // null: 4 * n_embd
  cfg.max_position_embeddings = integer(root, file, "n_positions", 1024, 1);
  cfg.rms_norm_eps = number(root, file, "layer_norm_epsilon", 1e-5);
  const json::Value* act = opt(root, "activation_function");
  cfg.hidden_act = act && act->is_string() ? act->string : "gelu_new";
  if (act && !act->is_string()) fail(file, "key \"activation_function\" must be a string");
  if (cfg.hidden_act != "gelu_new")
    fail(file, "activation_function \"" + cfg.hidden_act +
                   "\" is not supported for gpt2 (the engine runs \"gelu_new\", GPT-2's and DialoGPT's activation)");
  if (!boolean(root, file, "scale_attn_weights", true))
    fail(file, "scale_attn_weights false is not supported (the engine scales attention scores by 1/sqrt(head_dim))");
  if (boolean(root, file, "scale_attn_by_inverse_layer_idx", false))
    fail(file, "scale_attn_by_inverse_layer_idx true is not supported; set it to false");
  if (boolean(root, file, "add_cross_attention", false))
    fail(file, "add_cross_attention true (GPT-2 as a decoder with cross-attention) is not supported; set it to false");
  cfg.tie_word_embeddings = boolean(root, file, "tie_word_embeddings", true);
  if (!cfg.tie_word_embeddings)
    fail(file, "tie_word_embeddings false is not supported for gpt2 (GPT2LMHeadModel's head is transformer.wte)");
  cfg.bos_token_id = token(root, file, "bos_token_id", 50256, cfg.vocab_size);
  const int eos = token(root, file, "eos_token_id", 50256, cfg.vocab_size);
  cfg.eos_token_ids.clear();
  if (eos >= 0) cfg.eos_token_ids.push_back(eos);
  cfg.pad_token_id = token(root, file, "pad_token_id", -1, cfg.vocab_size);
  const json::Value* dt = opt(root, "torch_dtype");
  if (!dt) dt = opt(root, "dtype");
  cfg.torch_dtype = dt && dt->is_string() ? dt->string : "float32";
  return cfg;
}

} // namespace peft
