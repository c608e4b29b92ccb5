// T5 v1.1 / FLAN-T5 config.json (+ generation_config.json) to a T5Config, with transformers' T5Config defaults; the
// feed-forward kinds the engine does not implement are refused naming the key and what is supported.
#include <cmath>
#include <fstream>
#include <sstream>
#include "error.h"
#include "model/json.h"
#include "t5/t5_model.h"

namespace peft::t5 {
namespace {

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw EngineError("E_MODEL", file + ": " + msg);
}

int int_key(const json::Value& o, const char* key, int dflt, int lo, const std::string& file) {
  const json::Value* v = o.get(key);
  if (!v || v->is_null()) return dflt;
  if (!v->is_number() || !v->is_integer || v->integer < lo || v->integer > 1 << 30)
    fail(file, std::string("key \"") + key + "\" must be an integer >= " + std::to_string(lo));
  return (int)v->integer;
}

void token_ids(const json::Value* v, const char* key, const std::string& file, std::vector<int>& out) {
  if (!v || v->is_null()) return;
  out.clear();
  auto one = [&](const json::Value& x) {
    if (!x.is_number() || !x.is_integer || x.integer < 0 || x.integer > 2147483647LL)
      fail(file, std::string("key \"") + key + "\" must be a token id or a list of them");
    out.push_back((int)x.integer);
  };
  if (v->is_array())
    for (auto& x : v->array) one(x);
  else
    one(*v);
}

std::string read_text(const std::string& path, bool* exists) {
  std::ifstream in(path, std::ios::binary);
  *exists = (bool)in;
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

T5Config parse_t5_config(const std::string& text, const std::string& file) {
  json::Value root = json::parse(text, file, "E_MODEL");
  if (!root.is_object()) fail(file, "config.json must hold a JSON object");
  T5Config c;
  const json::Value* mt = root.get("model_type");
  if (!mt || !mt->is_string() || mt->string != "t5")
    fail(file, "model_type must be \"t5\" for a T5 model, got " + (mt && mt->is_string() ? mt->string : "none"));
  if (const json::Value* ed = root.get("is_encoder_decoder"); ed && ed->is_bool() && !ed->boolean)
    fail(file, "is_encoder_decoder is false: only T5ForConditionalGeneration (encoder + decoder) is supported");
  c.vocab_size = int_key(root, "vocab_size", 32128, 1, file);
  c.d_model = int_key(root, "d_model", 512, 1, file);
  c.d_kv = int_key(root, "d_kv", 64, 1, file);
  c.d_ff = int_key(root, "d_ff", 2048, 1, file);
  c.num_layers = int_key(root, "num_layers", 6, 1, file);
  c.num_decoder_layers = int_key(root, "num_decoder_layers", c.num_layers, 1, file);
  c.num_heads = int_key(root, "num_heads", 8, 1, file);
  c.num_buckets = int_key(root, "relative_attention_num_buckets", 32, 4, file);
  c.max_distance = int_key(root, "relative_attention_max_distance", 128, 1, file);
  c.pad_token_id = int_key(root, "pad_token_id", 0, 0, file);
  c.decoder_start_token_id = int_key(root, "decoder_start_token_id", c.pad_token_id, 0, file);
  c.eos_token_ids = {1};
  token_ids(root.get("eos_token_id"), "eos_token_id", file, c.eos_token_ids);
  if (const json::Value* e = root.get("layer_norm_epsilon"); e && e->is_number()) c.eps = e->number;
  if (!(c.eps > 0) || !std::isfinite(c.eps)) fail(file, "key \"layer_norm_epsilon\" must be a positive number");
  if (const json::Value* t = root.get("tie_word_embeddings")) {
    if (!t->is_bool()) fail(file, "key \"tie_word_embeddings\" must be true or false");
    c.tie_word_embeddings = t->boolean;
  }
  if (const json::Value* d = root.get("torch_dtype"); d && d->is_string()) c.torch_dtype = d->string;
  if (const json::Value* f = root.get("feed_forward_proj")) {
    if (!f->is_string()) fail(file, "key \"feed_forward_proj\" must be a string such as \"gated-gelu\"");
    c.feed_forward_proj = f->string;
  } else {
    c.feed_forward_proj = "relu"; // transformers' T5Config default (T5 v1.0)
  }
  if (c.feed_forward_proj != "gated-gelu")
    fail(file, "feed_forward_proj \"" + c.feed_forward_proj +
                   "\" is not supported for t5 yet: the engine implements T5 v1.1 / FLAN-T5's \"gated-gelu\" "
                   "(wo(gelu_new(wi_0 x) * wi_1 x)); original T5 v1.0 (\"relu\", DenseReluDense.wi) is not");
  if (const json::Value* a = root.get("dense_act_fn"); a && a->is_string() && a->string != "gelu_new")
    fail(file, "dense_act_fn \"" + a->string + "\" is not supported for t5 (gated-gelu uses gelu_new)");
  if (c.num_buckets % 2 != 0) fail(file, "relative_attention_num_buckets must be even");
  return c;
}

T5Config load_t5_config(const std::string& dir) {
  bool ok = false;
  const std::string path = dir + "/config.json";
  std::string text = read_text(path, &ok);
  if (!ok) throw EngineError("E_MODEL", path + ": not found (a Hugging Face T5 model directory has config.json)");
  T5Config c = parse_t5_config(text, path);
  const std::string gpath = dir + "/generation_config.json";
  std::string g = read_text(gpath, &ok);
  if (ok) {
    json::Value root = json::parse(g, gpath, "E_MODEL");
    if (root.is_object()) {
      token_ids(root.get("eos_token_id"), "eos_token_id", gpath, c.eos_token_ids);
      c.decoder_start_token_id = int_key(root, "decoder_start_token_id", c.decoder_start_token_id, 0, gpath);
      c.pad_token_id = int_key(root, "pad_token_id", c.pad_token_id, 0, gpath);
    }
  }
  if (c.decoder_start_token_id >= c.vocab_size) fail(path, "decoder_start_token_id is outside the vocabulary");
  return c;
}

} // namespace peft::t5
