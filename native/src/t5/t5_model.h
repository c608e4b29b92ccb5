// The T5 v1.1 / FLAN-T5 encoder-decoder (T5ForConditionalGeneration) on the Backend: its config, frozen weights
// (shared embedding, encoder and decoder blocks, relative position bias tables of block 0, untied or tied head), PEFT
// LoRA adapters on every linear layer (self / cross attention q k v o, feed-forward wi_0 wi_1 wo) and adapter stacks.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "backend/backend.h"
#include "kernels/linear.h"

namespace peft::t5 {

struct T5Config {
  int vocab_size = 0, d_model = 0, d_kv = 0, d_ff = 0, num_heads = 0;
  int num_layers = 0, num_decoder_layers = 0;
  int num_buckets = 32, max_distance = 128;
  double eps = 1e-6;
  bool tie_word_embeddings = true; // tied: logits = (h * d_model^-0.5) shared^T
  int pad_token_id = 0, decoder_start_token_id = 0;
  std::vector<int> eos_token_ids;
  std::string feed_forward_proj = "gated-gelu";
  std::string torch_dtype = "float32";
  int inner() const { return num_heads * d_kv; }
};

// Reads <dir>/config.json (+ generation_config.json): model_type t5, gated-gelu only. Throws E_MODEL naming the key.
T5Config load_t5_config(const std::string& dir);
T5Config parse_t5_config(const std::string& json_text, const std::string& file);

// Linear slots of a block. Encoder blocks have no cross-attention (C_*).
enum Slot { S_Q, S_K, S_V, S_O, C_Q, C_K, C_V, C_O, F_WI0, F_WI1, F_WO, N_SLOT };
extern const char* const SLOT_NAMES[N_SLOT]; // PEFT target name: q k v o q k v o wi_0 wi_1 wo
enum Stack { ENC = 0, DEC = 1 };

struct T5Block {
  std::vector<float> ln_sa, ln_ca, ln_ff; // [D] (ln_ca empty in the encoder)
  std::array<std::unique_ptr<kern::FrozenLinear>, N_SLOT> proj;
};

struct T5Model {
  T5Config cfg;
  std::string dir;
  kern::Storage storage = kern::Storage::F32;
  kern::Compute compute = kern::Compute::F32;
  std::vector<float> shared;               // [V, D] input embedding of both stacks
  std::vector<float> lm_head;              // [V, D], empty when tied to shared
  std::vector<float> enc_rel, dec_rel;     // [num_buckets, heads] relative_attention_bias of block 0
  std::vector<float> enc_final, dec_final; // [D]
  std::vector<T5Block> blocks[2];          // encoder, decoder
  const Backend* backend = &cpu_backend();
  const Backend& be() const { return *backend; }
  int D() const { return cfg.d_model; }
  int layers(int s) const { return (int)blocks[s].size(); }
  const float* head() const { return lm_head.empty() ? shared.data() : lm_head.data(); }
  float head_scale() const; // d_model^-0.5 when tied, else 1
  int slot_in(int s) const { return s == S_O || s == C_O ? cfg.inner() : s == F_WO ? cfg.d_ff : cfg.d_model; }
  int slot_out(int s) const {
    return s == S_O || s == C_O || s == F_WO ? cfg.d_model : (s == F_WI0 || s == F_WI1) ? cfg.d_ff : cfg.inner();
  }
  static bool slot_in_stack(int st, int s) { return st == DEC || s < C_Q || s > C_O; }
  size_t frozen_bytes() const;
  size_t params() const;
};

// Loads a Hugging Face T5 directory (model.safetensors, single file or sharded) with frozen linears in `storage`.
std::shared_ptr<T5Model> load_t5(const std::string& dir, kern::Storage storage, kern::Compute compute);

struct LoraW {
  std::vector<float> A, B; // [r, in], [out, r]
};
struct T5Adapter {
  std::string name;
  int r = 0;
  double alpha = 0;
  bool rslora = false;
  std::vector<std::array<std::unique_ptr<LoraW>, N_SLOT>> mods[2]; // [stack][layer][slot]
  float scaling() const;
  LoraW* mod(int st, int l, int s) const { return mods[st][l][s].get(); }
  size_t params() const;
};
// Same modules and shapes as `a`, zero.
std::shared_ptr<T5Adapter> t5_zeros_like(const T5Adapter& a);

struct T5Stack {
  std::vector<std::pair<std::shared_ptr<T5Adapter>, float>> frozen; // adapter, effective scale
  std::shared_ptr<T5Adapter> train;                                 // may be null
  float train_scale = 0.f;
  // LoRA dropout on the trainable adapter's input (PEFT: lora_B(lora_A(dropout(x)))), set by the trainer for its
  // training forward / backward only; masks are counter-based, drawn from (seed, stream of the example, projection).
  float dropout = 0.f;
  uint64_t seed = 0, stream = 0;
};

} // namespace peft::t5
