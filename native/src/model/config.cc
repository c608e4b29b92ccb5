// Parses Hugging Face config.json / generation_config.json into ModelConfig with transformers' per-model-type
// defaults (llama, mistral, qwen2), validates every key it uses, and computes RoPE inverse frequencies.
#include "model/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "error.h"
#include "model/json.h"

namespace peft {
namespace {

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw EngineError("E_MODEL", file + ": " + msg);
}

std::string show(const json::Value& v) {
  switch (v.type) {
    case json::Type::Null: return "null";
    case json::Type::Bool: return v.boolean ? "true" : "false";
    case json::Type::Number: {
      std::ostringstream os;
      os << v.number;
      return os.str();
    }
    case json::Type::String: return json::quote(v.string);
    default: return json::type_name(v.type);
  }
}

// Typed access to config keys; JSON null counts as absent (transformers writes null for unset optionals).
struct Keys {
  const json::Value& root;
  const std::string& file;

  const json::Value* opt(const std::string& key) const {
    const json::Value* v = root.get(key);
    return (v && !v->is_null()) ? v : nullptr;
  }
  int integer(const std::string& key, int def, bool required, int min, const std::string& fix) const {
    const json::Value* v = opt(key);
    if (!v) {
      if (required) fail(file, "key \"" + key + "\" is missing (" + fix + ")");
      return def;
    }
    if (!v->is_number() || !v->is_integer || v->integer < min || v->integer > 2147483647LL)
      fail(file,
           "key \"" + key + "\" must be an integer >= " + std::to_string(min) + ", got " + show(*v) + " (" + fix + ")");
    return static_cast<int>(v->integer);
  }
  double number(const std::string& key, double def, const std::string& fix, bool positive = true) const {
    const json::Value* v = opt(key);
    if (!v) return def;
    if (!v->is_number() || (positive && !(v->number > 0)))
      fail(file, "key \"" + key + "\" must be a " + (positive ? "positive " : "") + "number, got " + show(*v) + " (" +
                     fix + ")");
    return v->number;
  }
  bool boolean(const std::string& key, bool def) const {
    const json::Value* v = opt(key);
    if (!v) return def;
    if (!v->is_bool()) fail(file, "key \"" + key + "\" must be true or false, got " + show(*v));
    return v->boolean;
  }
  std::string string(const std::string& key, const std::string& def) const {
    const json::Value* v = opt(key);
    if (!v) return def;
    if (!v->is_string()) fail(file, "key \"" + key + "\" must be a string, got " + show(*v));
    return v->string;
  }
};

// Per-model-type defaults of transformers' config classes (LlamaConfig, MistralConfig, Qwen2Config).
struct TypeDefaults {
  int max_position_embeddings;
  double rms_norm_eps;
  double rope_theta;
  bool tie_word_embeddings;
  int bos, eos; // -1 = None
  const char* architecture;
  int num_kv_heads; // when the key is absent; -1 = num_attention_heads (null always means that)
};

const TypeDefaults* defaults_for(const std::string& model_type) {
  static const TypeDefaults llama{2048, 1e-6, 10000.0, false, 1, 2, "LlamaForCausalLM", -1};
  static const TypeDefaults mistral{4096 * 32, 1e-6, 10000.0, false, 1, 2, "MistralForCausalLM", 8};
  static const TypeDefaults qwen2{32768, 1e-6, 10000.0, false, -1, -1, "Qwen2ForCausalLM", 32};
  if (model_type == "llama") return &llama;
  if (model_type == "mistral") return &mistral;
  if (model_type == "qwen2") return &qwen2;
  return nullptr;
}

std::string model_type_from_architecture(const std::string& arch) {
  if (arch == "LlamaForCausalLM") return "llama";
  if (arch == "MistralForCausalLM") return "mistral";
  if (arch == "Qwen2ForCausalLM") return "qwen2";
  if (arch == "GPT2LMHeadModel") return "gpt2";
  return "";
}

void parse_token_ids(const json::Value* v, const std::string& key, const std::string& file, std::vector<int>* out) {
  out->clear();
  if (!v || v->is_null()) return;
  auto one = [&](const json::Value& x) {
    if (!x.is_number() || !x.is_integer || x.integer < 0 || x.integer > 2147483647LL)
      fail(file, "key \"" + key + "\" must be a token id (non-negative integer) or a list of them, got " + show(x));
    out->push_back(static_cast<int>(x.integer));
  };
  if (v->is_array()) {
    for (const auto& x : v->array) one(x);
  } else {
    one(*v);
  }
}

void parse_rope_scaling(const json::Value& rs, const std::string& key, const std::string& file, ModelConfig& cfg) {
  if (!rs.is_object()) fail(file, "key \"" + key + "\" must be an object or null, got " + show(rs));
  Keys k{rs, file};
  std::string type = k.string("rope_type", "");
  if (type.empty()) type = k.string("type", "");
  if (type.empty()) fail(file, "key \"" + key + "\" needs \"type\" (or \"rope_type\"): linear, dynamic or llama3");
  if (type == "default") return;
  if (type != "linear" && type != "dynamic" && type != "llama3")
    fail(file, "\"" + key + "\" type \"" + type + "\" is not supported (supported: linear, dynamic, llama3)");
  const json::Value* f = k.opt("factor");
  if (!f || !f->is_number() || !(f->number > 0) || !std::isfinite(f->number))
    fail(file, "\"" + key + ".factor\" must be a positive number for rope type " + type);
  if (type != "llama3" && !(f->number >= 1.0))
    fail(file, "\"" + key + ".factor\" must be >= 1 for rope type " + type + ", got " + show(*f));
  cfg.rope_scaling.type = type;
  cfg.rope_scaling.factor = f->number;
  if (type == "llama3") {
    auto need = [&](const char* name) -> double {
      const json::Value* v = k.opt(name);
      if (!v || !v->is_number() || !(v->number > 0))
        fail(file, "\"" + key + "." + name +
                       "\" must be a positive number for rope type llama3 (copy it from the model's published config)");
      return v->number;
    };
    cfg.rope_scaling.low_freq_factor = need("low_freq_factor");
    cfg.rope_scaling.high_freq_factor = need("high_freq_factor");
    double orig = need("original_max_position_embeddings");
    if (orig != std::floor(orig) || orig > 2147483647.0)
      fail(file, "\"" + key + ".original_max_position_embeddings\" must be an integer");
    cfg.rope_scaling.original_max_position_embeddings = static_cast<int>(orig);
    if (cfg.rope_scaling.high_freq_factor <= cfg.rope_scaling.low_freq_factor)
      fail(file, "\"" + key + "\": high_freq_factor must be greater than low_freq_factor");
  }
}

std::string read_file(const std::string& path, bool* exists) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *exists = false;
    return "";
  }
  *exists = true;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path, "cannot be read");
  return ss.str();
}

} // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& file) {
  json::Value root = json::parse(json_text, file, "E_MODEL");
  if (!root.is_object())
    fail(file, "config.json must hold a JSON object, got " + std::string(json::type_name(root.type)));
  Keys k{root, file};
  ModelConfig cfg;

  // Architecture and model type.
  if (const json::Value* a = k.opt("architectures")) {
    if (!a->is_array() || a->array.empty() || !a->array[0].is_string())
      fail(file, "key \"architectures\" must be a non-empty list of class names, e.g. [\"LlamaForCausalLM\"]");
    cfg.architecture = a->array[0].string;
  }
  cfg.model_type = k.string("model_type", "");
  if (cfg.model_type.empty()) {
    cfg.model_type = model_type_from_architecture(cfg.architecture);
    if (cfg.model_type.empty())
      fail(file, "key \"model_type\" is missing (add \"model_type\": \"llama\", \"mistral\" or \"qwen2\")");
  }
  if (cfg.model_type == "gpt2") return parse_gpt2_config(root, file, cfg); // GPT-2 family: model/config_gpt2.cc
  if (cfg.model_type == "t5")
    fail(file,
         "model_type \"t5\" (encoder-decoder) is not supported here: T5 models load through the T5 engine "
         "(native/src/t5, t5LoadModel); serve, exports and the batched decoder are not supported for t5 yet");
  const TypeDefaults* d = defaults_for(cfg.model_type);
  if (!d)
    fail(file, "model_type \"" + cfg.model_type +
                   "\" is not supported; supported: llama, mistral, qwen2 (Llama family, incl. SmolLM), gpt2");
  if (!cfg.architecture.empty() && cfg.architecture != d->architecture)
    fail(file, "architecture \"" + cfg.architecture + "\" is not supported for model_type \"" + cfg.model_type +
                   "\"; expected \"" + d->architecture + "\" (a causal LM head)");
  if (cfg.architecture.empty()) cfg.architecture = d->architecture;

  // Shape.
  cfg.vocab_size = k.integer("vocab_size", 0, true, 1, "set it to the number of rows of model.embed_tokens.weight");
  cfg.hidden_size =
      k.integer("hidden_size", 0, true, 1, "set it to the model width, the columns of model.embed_tokens.weight");
  cfg.intermediate_size =
      k.integer("intermediate_size", 0, true, 1, "set it to the MLP width, the rows of mlp.gate_proj.weight");
  cfg.num_layers = k.integer("num_hidden_layers", 0, true, 1, "set it to the number of model.layers.N blocks");
  cfg.num_heads = k.integer("num_attention_heads", 0, true, 1, "set it to the number of query heads");
  // Absent: the config class default (LlamaConfig: = heads; MistralConfig: 8; Qwen2Config: 32). null: = heads.
  const json::Value* kv_key = root.get("num_key_value_heads");
  const int kv_default = (kv_key == nullptr && d->num_kv_heads > 0) ? d->num_kv_heads : cfg.num_heads;
  cfg.num_kv_heads = k.integer("num_key_value_heads", kv_default, false, 1,
                               "number of key/value heads; null for multi-head attention");
  if (cfg.num_heads % cfg.num_kv_heads != 0)
    fail(file, "num_attention_heads " + std::to_string(cfg.num_heads) + " is not a multiple of num_key_value_heads " +
                   std::to_string(cfg.num_kv_heads) + " (GQA needs whole groups)");
  if (k.opt("head_dim")) {
    cfg.head_dim =
        k.integer("head_dim", 0, false, 1, "per-head width; omit it to use hidden_size / num_attention_heads");
  } else {
    if (cfg.hidden_size % cfg.num_heads != 0)
      fail(file, "hidden_size " + std::to_string(cfg.hidden_size) + " is not divisible by num_attention_heads " +
                     std::to_string(cfg.num_heads) +
                     " (add \"head_dim\" if the model uses a different per-head width)");
    cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  }
  if (cfg.head_dim % 2 != 0)
    fail(file, "head_dim " + std::to_string(cfg.head_dim) + " must be even for rotary embeddings");
  cfg.max_position_embeddings = k.integer("max_position_embeddings", d->max_position_embeddings, false, 1,
                                          "the context length the model was trained for");

  // Numerics.
  cfg.hidden_act = k.string("hidden_act", "silu");
  if (cfg.hidden_act == "swish") cfg.hidden_act = "silu";
  if (cfg.hidden_act != "silu")
    fail(file, "hidden_act \"" + cfg.hidden_act + "\" is not supported (the Llama family uses \"silu\")");
  cfg.rms_norm_eps = k.number("rms_norm_eps", d->rms_norm_eps, "the RMSNorm epsilon, e.g. 1e-5");
  const json::Value* rope_params = k.opt("rope_parameters"); // transformers >= 5 layout
  if (rope_params && !rope_params->is_object()) fail(file, "key \"rope_parameters\" must be an object");
  cfg.rope_theta = k.number("rope_theta", d->rope_theta, "the RoPE base, e.g. 10000");
  if (rope_params && rope_params->get("rope_theta")) {
    Keys rk{*rope_params, file};
    cfg.rope_theta = rk.number("rope_theta", cfg.rope_theta, "the RoPE base, e.g. 10000");
  }
  if (const json::Value* rs = k.opt("rope_scaling"))
    parse_rope_scaling(*rs, "rope_scaling", file, cfg);
  else if (rope_params)
    parse_rope_scaling(*rope_params, "rope_parameters", file, cfg);

  // Embeddings, attention variants, biases.
  cfg.tie_word_embeddings = k.boolean("tie_word_embeddings", d->tie_word_embeddings);
  cfg.mlp_bias = k.boolean("mlp_bias", false);
  if (cfg.model_type == "qwen2") {
    cfg.qkv_bias = true; // Qwen2Attention: q/k/v with bias, o_proj without
    cfg.o_bias = false;
    if (k.boolean("use_sliding_window", false))
      fail(file, "use_sliding_window true (Qwen2 per-layer sliding window) is not supported; set it to false");
  } else {
    bool ab = k.boolean("attention_bias", false);
    cfg.qkv_bias = ab;
    cfg.o_bias = ab;
  }
  cfg.attention_bias = cfg.qkv_bias || cfg.o_bias;
  if (cfg.model_type == "mistral") {
    const json::Value* sw = root.get("sliding_window");
    if (!sw)
      cfg.sliding_window = 4096; // MistralConfig default
    else if (sw->is_null())
      cfg.sliding_window = 0;
    else
      cfg.sliding_window =
          k.integer("sliding_window", 0, false, 1, "attention window in tokens, or null for full attention");
  }

  // Special tokens.
  cfg.bos_token_id = d->bos;
  if (const json::Value* b = root.get("bos_token_id")) {
    std::vector<int> ids;
    parse_token_ids(b, "bos_token_id", file, &ids);
    cfg.bos_token_id = ids.empty() ? -1 : ids[0];
  }
  if (const json::Value* e = root.get("eos_token_id"))
    parse_token_ids(e, "eos_token_id", file, &cfg.eos_token_ids);
  else if (d->eos >= 0)
    cfg.eos_token_ids = {d->eos};
  if (const json::Value* p = root.get("pad_token_id")) {
    std::vector<int> ids;
    parse_token_ids(p, "pad_token_id", file, &ids);
    cfg.pad_token_id = ids.empty() ? -1 : ids[0];
  }
  for (int id : cfg.eos_token_ids)
    if (id >= cfg.vocab_size)
      fail(file, "eos_token_id " + std::to_string(id) + " is outside the vocabulary (vocab_size " +
                     std::to_string(cfg.vocab_size) + ")");
  if (cfg.bos_token_id >= cfg.vocab_size)
    fail(file, "bos_token_id " + std::to_string(cfg.bos_token_id) + " is outside the vocabulary (vocab_size " +
                   std::to_string(cfg.vocab_size) + ")");

  std::string dtype = k.string("torch_dtype", "");
  if (dtype.empty()) dtype = k.string("dtype", "float32");
  cfg.torch_dtype = dtype;
  return cfg;
}

void apply_generation_config(ModelConfig& cfg, const std::string& json_text, const std::string& file) {
  json::Value root = json::parse(json_text, file, "E_MODEL");
  if (!root.is_object()) fail(file, "generation_config.json must hold a JSON object");
  std::vector<int> ids;
  if (const json::Value* b = root.get("bos_token_id"); b && !b->is_null()) {
    parse_token_ids(b, "bos_token_id", file, &ids);
    if (!ids.empty()) cfg.bos_token_id = ids[0];
  }
  if (const json::Value* e = root.get("eos_token_id"); e && !e->is_null()) {
    parse_token_ids(e, "eos_token_id", file, &ids);
    if (!ids.empty()) cfg.eos_token_ids = ids;
  }
  if (const json::Value* p = root.get("pad_token_id"); p && !p->is_null()) {
    parse_token_ids(p, "pad_token_id", file, &ids);
    if (!ids.empty()) cfg.pad_token_id = ids[0];
  }
  for (int id : cfg.eos_token_ids)
    if (id >= cfg.vocab_size)
      fail(file, "eos_token_id " + std::to_string(id) + " is outside the vocabulary (vocab_size " +
                     std::to_string(cfg.vocab_size) + ")");
  if (cfg.bos_token_id >= cfg.vocab_size)
    fail(file, "bos_token_id " + std::to_string(cfg.bos_token_id) + " is outside the vocabulary");
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  bool exists = false;
  std::string text = read_file(path, &exists);
  if (!exists)
    fail(path, "not found (a Hugging Face model directory needs config.json beside its safetensors weights)");
  ModelConfig cfg = parse_model_config(text, path);
  const std::string gen_path = dir + "/generation_config.json";
  std::string gen = read_file(gen_path, &exists);
  if (exists) apply_generation_config(cfg, gen, gen_path);
  return cfg;
}

std::vector<double> rope_inv_freq(const ModelConfig& cfg, int seq_len, double* pos_scale) {
  const int dim = cfg.head_dim;
  if (dim <= 0 || dim % 2 != 0)
    throw EngineError("E_MODEL", "rope_inv_freq: head_dim " + std::to_string(dim) + " must be positive and even");
  const RopeScaling& rs = cfg.rope_scaling;
  double base = cfg.rope_theta;
  if (pos_scale) *pos_scale = 1.0;
  if (rs.type == "linear") {
    if (pos_scale) *pos_scale = 1.0 / rs.factor;
  } else if (rs.type == "dynamic") {
    // transformers 4.35 LlamaDynamicNTKScalingRotaryEmbedding, for a fresh forward over seq_len positions.
    if (seq_len > cfg.max_position_embeddings) {
      double ratio = rs.factor * seq_len / cfg.max_position_embeddings - (rs.factor - 1.0);
      base = cfg.rope_theta * std::pow(ratio, static_cast<double>(dim) / (dim - 2));
    }
  }
  std::vector<double> inv(dim / 2);
  for (int j = 0; j < dim / 2; ++j) inv[j] = 1.0 / std::pow(base, (2.0 * j) / dim);
  if (rs.type == "llama3") {
    // transformers _compute_llama3_parameters.
    const double factor = rs.factor;
    const double old_ctx = rs.original_max_position_embeddings;
    const double low_freq_wavelen = old_ctx / rs.low_freq_factor;
    const double high_freq_wavelen = old_ctx / rs.high_freq_factor;
    const double pi = 3.14159265358979323846;
    for (double& f : inv) {
      const double wavelen = 2.0 * pi / f;
      if (wavelen > low_freq_wavelen) {
        f = f / factor;
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1.0 - smooth) * f / factor + smooth * f;
      }
    }
  }
  return inv;
}

} // namespace peft
