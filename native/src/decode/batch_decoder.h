// Continuous batching for serving: many sequences, each with its own adapter stack, sampling options and KV cache,
// advanced together by one forward per step over the shared frozen base (base products once for the batch, LoRA
// products per group of rows with the same stack). Sequences join (their prompt is prefilled in the step they join)
// and leave at any step. A row's numbers never depend on which other rows share its step.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include "../generate.h"
#include "../llama.h"
#include "../rng.h"

namespace peft {

struct DecodeRequest {
  int64_t id = 0;
  std::vector<int32_t> prompt;
  std::vector<std::pair<std::shared_ptr<Adapter>, float>> adapters; // adapter, effective scale
  GenOptions opt;
  int top_logprobs = 0; // how many alternatives to report per token (0 = none)
};

// One generated token of one sequence.
struct DecodeEvent {
  int64_t id = 0;
  int32_t token = 0;
  float logprob = 0.f;          // log softmax of the raw logits (before temperature / top-k / top-p)
  std::vector<int32_t> top_ids; // the top_logprobs most likely ids, best first
  std::vector<float> top_logprobs;
  const char* finish = nullptr; // "stop" (EOS), "length" (max tokens or context full), or null (continues)
};

class BatchDecoder {
 public:
  // max_batch: sequences at most; kv_budget_bytes: KV cache memory at most over all sequences (each sequence
  // reserves prompt + max_tokens positions, capped by the context, when it joins).
  BatchDecoder(std::shared_ptr<LlamaModel> m, int max_batch, size_t kv_budget_bytes);
  // Checks a request and returns the KV bytes it would reserve (throws EngineError naming the problem).
  size_t check(const DecodeRequest& r) const;
  // Adds a sequence (prefilled at the next step). Throws E_BUSY when the batch or the KV budget is full.
  void add(DecodeRequest r);
  // Removes a sequence (cancelled by its client); unknown ids are ignored.
  void drop(int64_t id);
  // One forward over every sequence (prompt rows of the new ones, the last token of the others) and one sampled
  // token each (a prompt samples after its last chunk); finished sequences are removed. At most `prefill_rows` prompt
  // rows join per step (at least one prompt, or one chunk of one where every row is pooled: generate.h decode_all_rows, PREFILL_CHUNK).
  std::vector<DecodeEvent> step(int prefill_rows = 512);
  int size() const { return (int)seqs_.size(); }
  // Prompt rows the last step ran (prefill; the rest of its rows were decode rows).
  int last_prefill_rows() const { return last_prefill_rows_; }
  size_t kv_used() const { return kv_used_; }
  size_t kv_budget() const { return kv_budget_; }
  int max_batch() const { return max_batch_; }
  size_t kv_bytes_per_token() const;

 private:
  size_t cache_len(const DecodeRequest& r) const;
  struct Seq {
    DecodeRequest req;
    KVCache cache;
    Rng rng;
    int produced = 0;
    int32_t last = -1; // the token to feed next (after the prefill)
    int fed = 0;       // prompt tokens in the cache (a prompt joins in chunks in the bf16 mode)
    bool prefilled = false;
    size_t kv_bytes = 0;
  };
  std::shared_ptr<LlamaModel> m_;
  int max_batch_;
  size_t kv_budget_, kv_used_ = 0;
  int last_prefill_rows_ = 0;
  std::map<int64_t, std::unique_ptr<Seq>> seqs_;
  std::vector<int64_t> order_; // join order (prefill fairness)
  // grow-only working memory of a step
  std::vector<float> x_, ln_, q_, k_, v_, att_, x2_, g_, u_, h_, out_, lnf_, lora_u_, lora_tmp_, last_, logits_, qkv_;
  std::shared_ptr<MoeWorkspace> moe_; // MoE layers' scratch (moe/moe.h), made on the first MoE step
};

} // namespace peft
