// Attention of decode rows: one query row per sequence (its newest token) against that sequence's own KV cache, the
// rows of all sequences in one parallel region (the prompt rows of a joining sequence go through
// ops::attention_forward on their own). Each row runs ops::attention_forward's own fp32 computation for one query,
// so a row's numbers are those of single-sequence generation and depend only on its own query and cache.
#pragma once

namespace peft::decode {

struct AttnRow {
  const float* q;  // [nh * hd], RoPE applied
  const float* kc; // cache keys [pos + 1, nkv * hd] (this row's own key included)
  const float* vc; // cache values, same layout
  float* out;      // [nh * hd]
  int pos;         // position of the query (keys [first visible, pos] are attended)
};

// out = softmax(q K^T / sqrt(hd)) V per head (grouped-query: head h reads KV head h / (nh / nkv)); window > 0 limits
// the keys to the last `window` positions.
void attention_rows(const AttnRow* rows, int n, int nh, int nkv, int hd, int window);

} // namespace peft::decode
