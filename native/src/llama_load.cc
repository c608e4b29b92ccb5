// Loading a Llama-family model (llama, mistral, qwen2): config checks, every tensor read from the safetensors files
// as fp32, frozen projections quantised to their storage (NF4 straight from bf16 / fp32 + bf16 copy); and the model's
// size accounting.
#include "llama_load.h"
#include <sys/mman.h>
#include <unistd.h>
#include "error.h"
#include "gpt2_load.h"
#include "model/fp8.h"
#include "model/safetensors.h"
#include "moe/moe_load.h"

namespace peft {

size_t LlamaModel::frozen_bytes() const {
  size_t b = (embed.size() + lm_head.size() + norm.size() + pos_embed.size() + norm_b.size()) * sizeof(float) +
             head16.size() * sizeof(uint16_t) + head8.size() + head8_d.size() * sizeof(float);
  for (auto& L : layers) {
    b += (L.ln1.size() + L.ln2.size() + L.ln1_b.size() + L.ln2_b.size()) * sizeof(float);
    for (auto& p : L.proj)
      if (p) b += p->bytes(); // gpt2 leaves P_K, P_V, P_GATE empty; a MoE layer gate/up/down
    b += moe_layer_bytes(L);
  }
  return b;
}

size_t LlamaModel::params() const {
  size_t n = embed.size() + lm_head.size() + norm.size() + pos_embed.size() + norm_b.size();
  for (auto& L : layers) {
    n += L.ln1.size() + L.ln2.size() + L.ln1_b.size() + L.ln2_b.size();
    for (auto& p : L.proj)
      if (p) n += (size_t)p->in() * p->out();
    n += moe_layer_params(L);
  }
  return n;
}

namespace {

const TensorView& checked(const ModelFiles& mf, const std::string& name, size_t expect) {
  const TensorView* t = mf.find(name);
  if (!t) throw EngineError("E_MODEL", mf.dir + ": tensor '" + name + "' is missing");
  if ((size_t)t->numel() != expect)
    throw EngineError("E_MODEL", mf.dir + ": tensor '" + name + "' has " + std::to_string(t->numel()) +
                                     " values, the config implies " + std::to_string(expect));
  return *t;
}

// Drop the file pages just read so the mapping does not add the whole file to the peak RSS (they are clean pages of a
// read-only mapping: dropping them only means re-reading if touched again).
void drop_pages(const TensorView& t) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t lo = ((uintptr_t)t.data + page - 1) & ~(page - 1), hi = ((uintptr_t)t.data + t.nbytes) & ~(page - 1);
  if (hi > lo) madvise((void*)lo, hi - lo, MADV_DONTNEED);
}

} // namespace

std::vector<float> tensor_f32(const ModelFiles& mf, const std::string& name, size_t expect) {
  const TensorView* t = &checked(mf, name, expect);
  std::vector<float> v(expect);
  if (t->dtype == "F8_E4M3") // block scales checked by load_model_dir
    fp8_dequantize(*t, *mf.find(name + "_scale_inv"), mf.cfg.fp8_block_rows, mf.cfg.fp8_block_cols, v.data());
  else
    t->to_f32(v.data());
  drop_pages(*t);
  return v;
}

std::unique_ptr<kern::FrozenLinear> frozen_linear(const ModelFiles& mf, const std::string& base, int out, int in,
                                                  kern::Storage storage) {
  const size_t n = (size_t)in * out;
  const TensorView& t = checked(mf, base + ".weight", n);
  std::vector<float> b;
  if (mf.find(base + ".bias")) b = tensor_f32(mf, base + ".bias", out);
  if (storage == kern::Storage::NF4 && n % kern::NF4_BLOCK != 0) storage = kern::Storage::F32;
  if (storage == kern::Storage::NF4 && t.dtype == "BF16") { // bf16 -> NF4 block by block, straight from the mapping
    kern::NF4Tensor q;
    kern::nf4_quantize_bf16(t.data, out, in, q);
    drop_pages(t);
    return std::make_unique<kern::FrozenLinear>(std::move(q), b.empty() ? nullptr : b.data());
  }
  std::vector<float> w = tensor_f32(mf, base + ".weight", n);
  return std::make_unique<kern::FrozenLinear>(w.data(), b.empty() ? nullptr : b.data(), out, in, storage);
}

std::shared_ptr<LlamaModel> load_llama(const std::string& dir, kern::Storage storage, kern::Compute compute) {
  ModelFiles mf = load_model_dir(dir);
  if (mf.cfg.gpt2) return load_gpt2(mf, storage, compute); // GPT-2 family (gpt2_load.cc)
  auto m = std::make_shared<LlamaModel>();
  m->cfg = mf.cfg;
  m->dir = dir;
  m->storage = storage;
  m->compute = compute;
  const ModelConfig& c = m->cfg;
  if (c.model_type != "llama" && c.model_type != "mistral" && c.model_type != "qwen2" && c.model_type != "mixtral" &&
      c.model_type != "minimax_m2")
    throw EngineError("E_MODEL", dir + "/config.json: model_type '" + c.model_type +
                                     "' is not a Llama-family model (llama, mistral, qwen2, mixtral, minimax_m2)");
  if (c.num_heads % c.num_kv_heads != 0 || c.head_dim % 2 != 0)
    throw EngineError("E_MODEL", dir +
                                     "/config.json: num_attention_heads must be a multiple of num_key_value_heads "
                                     "and head_dim even");
  const size_t V = c.vocab_size, H = c.hidden_size;
  m->embed = tensor_f32(mf, "model.embed_tokens.weight", V * H);
  m->norm = tensor_f32(mf, "model.norm.weight", H);
  if (!c.tie_word_embeddings || mf.find("lm_head.weight")) {
    if (mf.find("lm_head.weight")) m->lm_head = tensor_f32(mf, "lm_head.weight", V * H);
  }
  m->layers.resize(c.num_layers);
  for (int l = 0; l < c.num_layers; l++) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    LlamaLayer& L = m->layers[l];
    L.ln1 = tensor_f32(mf, pre + "input_layernorm.weight", H);
    L.ln2 = tensor_f32(mf, pre + "post_attention_layernorm.weight", H);
    load_moe_layer(mf, *m, l); // router, experts, q/k norms (moe/moe_load.cc)
    for (int p = 0; p < N_PROJ; p++) {
      if (L.moe && (p == P_GATE || p == P_UP || p == P_DOWN)) continue;
      const std::string base = pre + PROJ_PARENT[p] + "." + PROJ_NAMES[p];
      const int in = m->proj_in(p), out = m->proj_out(p);
      L.proj[p] = frozen_linear(mf, base, out, in, storage);
      if (compute == kern::Compute::BF16 && L.proj[p]->storage() == kern::Storage::F32 && m->be().bf16_native())
        L.proj[p]->keep_bf16_copy();
    }
  }
  if (compute == kern::Compute::BF16) { // decoding reads the head (its largest single weight) in bf16
    m->head16.resize(V * H);
    m->be().f32_to_bf16(m->head(), m->head16.data(), V * H);
  }
  return m;
}

void enable_int8_decoding(LlamaModel& m) {
  m.int8 = true;
  const size_t V = m.cfg.vocab_size, H = m.H();
  if (H % 32 != 0 || m.gpt2()) return; // the fp32 head
  m.be().quantize_q8_rows(m.head(), (int)V, (int)H, m.head8, m.head8_d);
}

} // namespace peft
