// Loads a Hugging Face Llama-family model directory: config.json (+ generation_config.json), model.safetensors or a
// sharded model.safetensors.index.json, then checks the tensor set and every shape against the config.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "error.h"
#include "gpt2_load.h"
#include "model/json.h"
#include "model/safetensors.h"

namespace peft {
namespace {

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw EngineError("E_MODEL", file + ": " + msg);
}

bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

struct Expect {
  std::vector<int64_t> shape;
  std::string why; // which config keys imply the shape
  bool required;
};

// Every tensor name the config allows, with its shape and whether it must be present.
std::map<std::string, Expect> expected_tensors(const ModelConfig& c) {
  const int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const int64_t Q = static_cast<int64_t>(c.num_heads) * c.head_dim,
                KV = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  const std::string q =
      "num_attention_heads " + std::to_string(c.num_heads) + " x head_dim " + std::to_string(c.head_dim);
  const std::string kv =
      "num_key_value_heads " + std::to_string(c.num_kv_heads) + " x head_dim " + std::to_string(c.head_dim);
  const std::string h = "hidden_size " + std::to_string(H);
  const std::string im = "intermediate_size " + std::to_string(I);
  const std::string v = "vocab_size " + std::to_string(V);
  std::map<std::string, Expect> e;
  if (c.gpt2) { // GPT-2 family names and Conv1D shapes (gpt2_load.cc)
    for (const Gpt2Tensor& t : gpt2_expected_tensors(c)) e[t.name] = {t.shape, t.why, t.required};
    return e;
  }
  e["model.embed_tokens.weight"] = {{V, H}, v + ", " + h, true};
  e["model.norm.weight"] = {{H}, h, true};
  // With tied embeddings transformers ignores a stored lm_head (it is the embedding); accept it when the shape fits.
  e["lm_head.weight"] = {
      {V, H}, v + ", " + h + (c.tie_word_embeddings ? "" : "; tie_word_embeddings is false"), !c.tie_word_embeddings};
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    e[p + "input_layernorm.weight"] = {{H}, h, true};
    e[p + "post_attention_layernorm.weight"] = {{H}, h, true};
    e[p + "self_attn.q_proj.weight"] = {{Q, H}, q + " rows, " + h + " columns", true};
    e[p + "self_attn.k_proj.weight"] = {{KV, H}, kv + " rows, " + h + " columns", true};
    e[p + "self_attn.v_proj.weight"] = {{KV, H}, kv + " rows, " + h + " columns", true};
    e[p + "self_attn.o_proj.weight"] = {{H, Q}, h + " rows, " + q + " columns", true};
    e[p + "mlp.gate_proj.weight"] = {{I, H}, im + " rows, " + h + " columns", true};
    e[p + "mlp.up_proj.weight"] = {{I, H}, im + " rows, " + h + " columns", true};
    e[p + "mlp.down_proj.weight"] = {{H, I}, h + " rows, " + im + " columns", true};
    // Biases: required where the config implies them, accepted on any projection otherwise.
    const std::string why_qkv = c.model_type == "qwen2" ? " (Qwen2 has q/k/v biases)" : " (attention_bias is true)";
    e[p + "self_attn.q_proj.bias"] = {{Q}, q + why_qkv, c.qkv_bias};
    e[p + "self_attn.k_proj.bias"] = {{KV}, kv + why_qkv, c.qkv_bias};
    e[p + "self_attn.v_proj.bias"] = {{KV}, kv + why_qkv, c.qkv_bias};
    e[p + "self_attn.o_proj.bias"] = {{H}, h + " (attention_bias is true)", c.o_bias};
    e[p + "mlp.gate_proj.bias"] = {{I}, im + " (mlp_bias is true)", c.mlp_bias};
    e[p + "mlp.up_proj.bias"] = {{I}, im + " (mlp_bias is true)", c.mlp_bias};
    e[p + "mlp.down_proj.bias"] = {{H}, h + " (mlp_bias is true)", c.mlp_bias};
  }
  return e;
}

// Non-persistent buffers some older checkpoints stored; transformers ignores them on load.
bool ignorable(const std::string& name) {
  const std::string suffix = ".self_attn.rotary_emb.inv_freq";
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void add_tensors(ModelFiles& mf, const SafetensorsFile& f, std::map<std::string, std::string>& origin) {
  for (const auto& kv : f.tensors()) {
    auto it = origin.find(kv.first);
    if (it != origin.end())
      fail(f.path(), "tensor \"" + kv.first + "\" is also in " + it->second + " (each tensor must be stored once)");
    origin[kv.first] = f.path();
    mf.tensors[kv.first] = kv.second;
  }
}

void load_sharded(ModelFiles& mf, const std::string& index_path, std::map<std::string, std::string>& origin) {
  json::Value root = json::parse(read_text(index_path), index_path, "E_MODEL");
  if (!root.is_object()) fail(index_path, "must hold a JSON object with \"weight_map\"");
  const json::Value* wm = root.get("weight_map");
  if (!wm || !wm->is_object())
    fail(index_path, "key \"weight_map\" is missing or not an object of tensor name -> shard file");
  std::map<std::string, std::string> map; // tensor -> shard file name
  std::set<std::string> shards;
  for (const auto& kv : wm->object) {
    if (!kv.second.is_string()) fail(index_path, "weight_map[\"" + kv.first + "\"] must be a shard file name");
    const std::string& s = kv.second.string;
    if (s.empty() || s.find('/') != std::string::npos || s.find('\\') != std::string::npos || s == "." || s == "..")
      fail(index_path,
           "weight_map[\"" + kv.first + "\"] = \"" + s + "\" is not a plain file name in the model directory");
    map[kv.first] = s;
    shards.insert(s);
  }
  if (shards.empty()) fail(index_path, "weight_map lists no tensors");
  for (const std::string& s : shards) {
    const std::string p = mf.dir + "/" + s;
    if (!is_file(p)) fail(index_path, "shard \"" + s + "\" (listed in weight_map) is missing from " + mf.dir);
    mf.files.push_back(std::make_unique<SafetensorsFile>(p));
    const SafetensorsFile& f = *mf.files.back();
    for (const auto& kv : f.tensors()) {
      auto it = map.find(kv.first);
      if (it == map.end()) fail(p, "tensor \"" + kv.first + "\" is not listed in model.safetensors.index.json");
      if (it->second != s)
        fail(p, "tensor \"" + kv.first + "\" is listed under shard \"" + it->second +
                    "\" in model.safetensors.index.json");
    }
    add_tensors(mf, f, origin);
  }
  for (const auto& kv : map)
    if (!origin.count(kv.first))
      fail(mf.dir + "/" + kv.second,
           "tensor \"" + kv.first + "\" is listed in model.safetensors.index.json but missing from this shard");
}

} // namespace

ModelFiles load_model_dir(const std::string& dir_in) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (!is_dir(dir)) fail(dir, "model directory not found");
  ModelFiles mf;
  mf.dir = dir;
  mf.cfg = load_model_config(dir);

  const std::string single = dir + "/model.safetensors";
  const std::string index = dir + "/model.safetensors.index.json";
  std::map<std::string, std::string> origin; // tensor -> file path
  std::string weights_label;
  if (is_file(single)) {
    mf.files.push_back(std::make_unique<SafetensorsFile>(single));
    add_tensors(mf, *mf.files.back(), origin);
    weights_label = single;
  } else if (is_file(index)) {
    load_sharded(mf, index, origin);
    weights_label = index;
  } else {
    fail(dir,
         "no model.safetensors or model.safetensors.index.json (only safetensors weights are read; convert "
         "pytorch_model.bin with transformers: model.save_pretrained(dir, safe_serialization=True))");
  }

  if (mf.cfg.gpt2) gpt2_canonical_names(mf, origin); // the hub's original gpt2 files have no "transformer." prefix
  const std::map<std::string, Expect> expect = expected_tensors(mf.cfg);
  const std::string cfg_path = dir + "/config.json";
  for (auto it = mf.tensors.begin(); it != mf.tensors.end();) {
    const std::string& name = it->first;
    auto ex = expect.find(name);
    if (ex == expect.end()) {
      if (ignorable(name)) {
        it = mf.tensors.erase(it);
        continue;
      }
      std::string hint;
      if (expect.count("model." + name))
        hint = " (saved without the \"model.\" prefix? rename it to \"model." + name + "\")";
      else if (name.rfind("model.layers.", 0) == 0)
        hint = " (config.json has num_hidden_layers " + std::to_string(mf.cfg.num_layers) + ")";
      fail(origin[name], "unexpected tensor \"" + name + "\" for a " + mf.cfg.model_type + " model" + hint);
    }
    if (it->second.shape != ex->second.shape)
      fail(origin[name], "tensor \"" + name + "\" has shape " + shape_str(it->second.shape) + " but " + cfg_path +
                             " implies " + shape_str(ex->second.shape) + " (" + ex->second.why + ")");
    ++it;
  }
  for (const auto& kv : expect)
    if (kv.second.required && !mf.tensors.count(kv.first))
      fail(weights_label, "missing tensor \"" + kv.first + "\" (" + cfg_path + " implies it: " + kv.second.why + ")");
  return mf;
}

} // namespace peft
