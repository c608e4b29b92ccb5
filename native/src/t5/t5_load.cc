// Loading a Hugging Face T5 directory: every tensor of T5ForConditionalGeneration checked against the config (shape,
// presence, nothing unexpected) and read as fp32; frozen linears stored as fp32 / bf16 / NF4; size accounting.
#include <sys/stat.h>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include "error.h"
#include "model/json.h"
#include "model/safetensors.h"
#include "t5/t5_model.h"

namespace peft::t5 {

const char* const SLOT_NAMES[N_SLOT] = {"q", "k", "v", "o", "q", "k", "v", "o", "wi_0", "wi_1", "wo"};

float T5Model::head_scale() const { return lm_head.empty() ? (float)(1.0 / std::sqrt((double)cfg.d_model)) : 1.f; }

size_t T5Model::frozen_bytes() const {
  size_t b = (shared.size() + lm_head.size() + enc_rel.size() + dec_rel.size() + enc_final.size() + dec_final.size()) *
             sizeof(float);
  for (auto& st : blocks)
    for (auto& B : st) {
      b += (B.ln_sa.size() + B.ln_ca.size() + B.ln_ff.size()) * sizeof(float);
      for (auto& p : B.proj)
        if (p) b += p->bytes();
    }
  return b;
}

size_t T5Model::params() const {
  size_t n = shared.size() + lm_head.size() + enc_rel.size() + dec_rel.size() + enc_final.size() + dec_final.size();
  for (auto& st : blocks)
    for (auto& B : st) {
      n += B.ln_sa.size() + B.ln_ca.size() + B.ln_ff.size();
      for (auto& p : B.proj)
        if (p) n += (size_t)p->in() * p->out();
    }
  return n;
}

namespace {

bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

struct Files {
  std::string dir;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, const TensorView*> tensors;
  std::set<std::string> used;
  std::vector<float> get(const std::string& name, std::vector<int64_t> shape, const std::string& why) {
    auto it = tensors.find(name);
    if (it == tensors.end())
      throw EngineError("E_MODEL", dir + ": tensor '" + name +
                                       "' is missing (a T5ForConditionalGeneration checkpoint "
                                       "has it; " +
                                       why + ")");
    const TensorView& t = *it->second;
    if (t.shape != shape) {
      std::string want = "[", got = "[";
      for (size_t i = 0; i < shape.size(); i++) want += (i ? ", " : "") + std::to_string(shape[i]);
      for (size_t i = 0; i < t.shape.size(); i++) got += (i ? ", " : "") + std::to_string(t.shape[i]);
      throw EngineError("E_MODEL", dir + ": tensor '" + name + "' has shape " + got + "], the config implies " + want +
                                       "] (" + why + ")");
    }
    used.insert(name);
    std::vector<float> v((size_t)t.numel());
    t.to_f32(v.data());
    for (float x : v)
      if (!std::isfinite(x)) throw EngineError("E_MODEL", dir + ": tensor '" + name + "' holds a non-finite value");
    return v;
  }
};

void open_files(Files& f) {
  const std::string single = f.dir + "/model.safetensors", index = f.dir + "/model.safetensors.index.json";
  std::vector<std::string> paths;
  if (is_file(single)) {
    paths.push_back(single);
  } else if (is_file(index)) {
    std::ifstream in(index, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    json::Value root = json::parse(ss.str(), index, "E_MODEL");
    const json::Value* wm = root.get("weight_map");
    if (!wm || !wm->is_object()) throw EngineError("E_MODEL", index + ": key \"weight_map\" must be an object");
    std::set<std::string> names;
    for (auto& [k, v] : wm->object) {
      if (!v.is_string() || v.string.find('/') != std::string::npos || v.string.find("..") != std::string::npos)
        throw EngineError("E_MODEL", index + ": weight_map[\"" + k + "\"] must name a file in the directory");
      names.insert(v.string);
    }
    for (auto& n : names) paths.push_back(f.dir + "/" + n);
  } else {
    throw EngineError("E_MODEL", f.dir +
                                     ": no model.safetensors or model.safetensors.index.json (only safetensors "
                                     "weights are read)");
  }
  for (auto& p : paths) {
    f.files.push_back(std::make_unique<SafetensorsFile>(p));
    for (auto& [name, t] : f.files.back()->tensors()) f.tensors[name] = &t;
  }
}

} // namespace

std::shared_ptr<T5Model> load_t5(const std::string& dir, kern::Storage storage, kern::Compute compute) {
  auto m = std::make_shared<T5Model>();
  m->cfg = load_t5_config(dir);
  m->dir = dir;
  m->storage = storage;
  m->compute = compute;
  const T5Config& c = m->cfg;
  Files f;
  f.dir = dir;
  open_files(f);
  const int64_t V = c.vocab_size, D = c.d_model, I = c.inner(), F = c.d_ff, NB = c.num_buckets, NH = c.num_heads;
  const std::string vd = "vocab_size " + std::to_string(V) + ", d_model " + std::to_string(D);
  m->shared = f.get("shared.weight", {V, D}, vd);
  // transformers may also write the tied per-stack copies of the embedding; they equal shared.weight.
  for (const char* alias : {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"})
    if (f.tensors.count(alias)) f.get(alias, {V, D}, vd);
  if (!c.tie_word_embeddings) {
    m->lm_head = f.get("lm_head.weight", {V, D}, vd + "; tie_word_embeddings is false");
  } else if (f.tensors.count("lm_head.weight")) {
    f.get("lm_head.weight", {V, D}, vd); // tied: transformers ignores a stored copy
  }
  const std::string hk = "num_heads " + std::to_string(NH) + " x d_kv " + std::to_string(c.d_kv);
  m->enc_rel = f.get("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {NB, NH},
                     "relative_attention_num_buckets x num_heads");
  m->dec_rel = f.get("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {NB, NH},
                     "relative_attention_num_buckets x num_heads");
  m->enc_final = f.get("encoder.final_layer_norm.weight", {D}, "d_model");
  m->dec_final = f.get("decoder.final_layer_norm.weight", {D}, "d_model");
  for (int st = 0; st < 2; st++) {
    const int L = st == ENC ? c.num_layers : c.num_decoder_layers;
    m->blocks[st].resize(L);
    for (int l = 0; l < L; l++) {
      const std::string pre =
          std::string(st == ENC ? "encoder" : "decoder") + ".block." + std::to_string(l) + ".layer.";
      T5Block& B = m->blocks[st][l];
      B.ln_sa = f.get(pre + "0.layer_norm.weight", {D}, "d_model");
      if (st == DEC) B.ln_ca = f.get(pre + "1.layer_norm.weight", {D}, "d_model");
      const std::string ff = pre + (st == ENC ? "1" : "2");
      B.ln_ff = f.get(ff + ".layer_norm.weight", {D}, "d_model");
      for (int s = 0; s < N_SLOT; s++) {
        if (!T5Model::slot_in_stack(st, s)) continue;
        std::string name = s < C_Q    ? pre + "0.SelfAttention."
                           : s <= C_O ? pre + "1.EncDecAttention."
                                      : ff + ".DenseReluDense.";
        name += std::string(SLOT_NAMES[s]) + ".weight";
        const int in = m->slot_in(s), out = m->slot_out(s);
        std::vector<float> w =
            f.get(name, {out, in},
                  s == F_WI0 || s == F_WI1 || s == F_WO ? "d_ff " + std::to_string(F) + ", d_model"
                                                        : hk + " = " + std::to_string(I) + ", d_model");
        kern::Storage sto = storage;
        if (sto == kern::Storage::NF4 && ((size_t)in * out) % kern::NF4_BLOCK != 0) sto = kern::Storage::F32;
        B.proj[s] = std::make_unique<kern::FrozenLinear>(w.data(), nullptr, out, in, sto);
        if (compute == kern::Compute::BF16 && sto == kern::Storage::F32 && m->be().bf16_native())
          B.proj[s]->keep_bf16_copy();
      }
    }
  }
  for (auto& [name, t] : f.tensors)
    if (!f.used.count(name))
      throw EngineError("E_MODEL", dir + ": unexpected tensor '" + name +
                                       "' (not part of a T5 v1.1 T5ForConditionalGeneration with this config: "
                                       "num_layers " +
                                       std::to_string(c.num_layers) + ", num_decoder_layers " +
                                       std::to_string(c.num_decoder_layers) + ", feed_forward_proj " +
                                       c.feed_forward_proj + ")");
  return m;
}

} // namespace peft::t5
