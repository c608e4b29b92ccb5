// Parses the sparse-MoE keys of config.json: Mixtral (num_local_experts, num_experts_per_tok, softmax top-k renormalised)
// and MiniMax-M2 (sigmoid scores + e_score_correction_bias; transformers v5 keys head_dim / rope_parameters and the hub
// checkpoint's own keys rotary_dim, rope_theta, use_qk_norm, scoring_func, use_routing_bias).
#include "moe/moe_config.h"
#include <cmath>
#include <sstream>
#include "error.h"

namespace peft {
namespace {

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw EngineError("E_MODEL", file + ": " + msg);
}

const json::Value* opt(const json::Value& o, const std::string& key) {
  const json::Value* v = o.get(key);
  return (v && !v->is_null()) ? v : nullptr;
}

int int_key(const json::Value& o, const std::string& key, int def, int min, const std::string& file,
            const std::string& fix) {
  const json::Value* v = opt(o, key);
  if (!v) return def;
  if (!v->is_number() || !v->is_integer || v->integer < min || v->integer > 1000000)
    fail(file, "key \"" + key + "\" must be an integer >= " + std::to_string(min) + " (" + fix + ")");
  return (int)v->integer;
}

bool bool_key(const json::Value& o, const std::string& key, bool def, const std::string& file) {
  const json::Value* v = opt(o, key);
  if (!v) return def;
  if (!v->is_bool()) fail(file, "key \"" + key + "\" must be true or false");
  return v->boolean;
}

double num_key(const json::Value& o, const std::string& key, double def, const std::string& file) {
  const json::Value* v = opt(o, key);
  if (!v) return def;
  if (!v->is_number() || !std::isfinite(v->number) || v->number < 0)
    fail(file, "key \"" + key + "\" must be a non-negative number");
  return v->number;
}

std::string str_key(const json::Value& o, const std::string& key, const std::string& def, const std::string& file) {
  const json::Value* v = opt(o, key);
  if (!v) return def;
  if (!v->is_string()) fail(file, "key \"" + key + "\" must be a string");
  return v->string;
}

} // namespace

bool is_moe_model_type(const std::string& t) { return t == "mixtral" || t == "minimax_m2"; }

void parse_moe_config(const json::Value& root, const std::string& file, ModelConfig& cfg) {
  if (!is_moe_model_type(cfg.model_type)) return;
  const bool minimax = cfg.model_type == "minimax_m2";
  cfg.num_experts = int_key(root, "num_local_experts", minimax ? 256 : 8, 1, file,
                            "the number of experts per layer, the rows of block_sparse_moe.gate.weight");
  cfg.experts_per_tok = int_key(root, "num_experts_per_tok", minimax ? 8 : 2, 1, file, "experts routed per token");
  if (cfg.experts_per_tok > cfg.num_experts)
    fail(file, "num_experts_per_tok " + std::to_string(cfg.experts_per_tok) + " exceeds num_local_experts " +
                   std::to_string(cfg.num_experts));
  cfg.router_aux_loss_coef = num_key(root, "router_aux_loss_coef", 0.001, file);
  cfg.output_router_logits = bool_key(root, "output_router_logits", false, file);
  if (num_key(root, "router_jitter_noise", 0.0, file) != 0.0)
    fail(file,
         "router_jitter_noise is not supported by this engine (set it to 0; LoRA training keeps the router "
         "frozen)");
  if (int_key(root, "shared_intermediate_size", 0, 0, file, "0: no shared expert") != 0)
    fail(file,
         "shared_intermediate_size > 0 (a shared expert) is not supported by this engine; supported: routed "
         "experts only (Mixtral, MiniMax-M2)");
  // Router scoring: Mixtral softmax over all experts, top-k, renormalised; MiniMax-M2 sigmoid, chosen by score +
  // e_score_correction_bias, weights the chosen scores renormalised.
  const std::string scoring = str_key(root, "scoring_func", minimax ? "sigmoid" : "softmax", file);
  if (scoring != "softmax" && scoring != "sigmoid")
    fail(file, "scoring_func \"" + scoring +
                   "\" is not a router this engine implements (softmax: Mixtral, sigmoid: "
                   "MiniMax-M2)");
  if (!minimax && scoring != "softmax")
    fail(file, "scoring_func \"" + scoring + "\" is not supported for model_type mixtral (Mixtral routes by softmax)");
  cfg.router_sigmoid = scoring == "sigmoid";
  cfg.router_bias = minimax ? bool_key(root, "use_routing_bias", true, file) : false;
  if (!minimax) {
    cfg.qk_norm = false;
    return;
  }
  // MiniMax-M2 attention: q_norm / k_norm over the full projection width, partial rotary embeddings.
  cfg.qk_norm = bool_key(root, "use_qk_norm", true, file);
  const std::string qk_type = str_key(root, "qk_norm_type", "per_layer", file);
  if (qk_type != "per_layer")
    fail(file, "qk_norm_type \"" + qk_type + "\" is not supported (per_layer: one RMSNorm over all heads)");
  double factor = 0.0;
  if (const json::Value* rp = opt(root, "rope_parameters"))
    if (rp->is_object()) factor = num_key(*rp, "partial_rotary_factor", 0.0, file);
  if (factor == 0.0) factor = num_key(root, "partial_rotary_factor", 0.0, file);
  if (const json::Value* rd = opt(root, "rotary_dim")) {
    (void)rd;
    cfg.rotary_dim = int_key(root, "rotary_dim", 0, 2, file, "the rotated width of each head, e.g. 64 of 128");
  } else if (factor > 0.0) {
    cfg.rotary_dim = (int)(cfg.head_dim * factor);
  } else {
    cfg.rotary_dim = cfg.head_dim;
  }
  if (cfg.rotary_dim % 2 != 0 || cfg.rotary_dim > cfg.head_dim)
    fail(file, "the rotary width " + std::to_string(cfg.rotary_dim) +
                   " (rotary_dim or head_dim * "
                   "partial_rotary_factor) must be even and at most head_dim " +
                   std::to_string(cfg.head_dim));
  if (cfg.rotary_dim == cfg.head_dim) cfg.rotary_dim = 0;
  if (const json::Value* at = opt(root, "attn_type_list")) {
    if (!at->is_array()) fail(file, "key \"attn_type_list\" must be a list");
    for (const auto& v : at->array)
      if (!v.is_number() || v.number != 1)
        fail(file,
             "attn_type_list holds a layer type other than 1 (full attention); linear (lightning) attention "
             "layers are not supported");
  }
}

std::vector<ExpectedTensor> moe_expected_tensors(const ModelConfig& c, int l) {
  std::vector<ExpectedTensor> out;
  const std::string p = "model.layers." + std::to_string(l) + ".";
  const int64_t H = c.hidden_size, I = c.intermediate_size, E = c.num_experts;
  if (c.qk_norm) {
    out.push_back({p + "self_attn.q_norm.weight",
                   {(int64_t)c.num_heads * c.head_dim},
                   "use_qk_norm: num_attention_heads x head_dim"});
    out.push_back({p + "self_attn.k_norm.weight",
                   {(int64_t)c.num_kv_heads * c.head_dim},
                   "use_qk_norm: num_key_value_heads x head_dim"});
  }
  if (E == 0) return out;
  const std::string h = "hidden_size " + std::to_string(H), im = "intermediate_size " + std::to_string(I);
  out.push_back({p + "block_sparse_moe.gate.weight", {E, H}, "num_local_experts " + std::to_string(E) + ", " + h});
  if (c.router_bias)
    out.push_back({p + "block_sparse_moe.e_score_correction_bias",
                   {E},
                   "num_local_experts " + std::to_string(E) + " (use_routing_bias)"});
  for (int64_t e = 0; e < E; e++) {
    const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
    out.push_back({x + "w1.weight", {I, H}, im + " rows, " + h + " columns"});
    out.push_back({x + "w2.weight", {H, I}, h + " rows, " + im + " columns"});
    out.push_back({x + "w3.weight", {I, H}, im + " rows, " + h + " columns"});
  }
  return out;
}

} // namespace peft
