// The decoder's building blocks shared by llama.cc and the per-family blocks (gpt2_layer.cc): grouped projections
// (frozen matmul + stacked LoRA, fused in bf16 compute), the attention shape, and the GPT-2 block's entry points.
#pragma once
#include "llama.h"

namespace peft {

// ys[j][N, out_j] = x W_j^T (+b) + LoRA stack for the g projections ps that read x (lus[j]: saved A-projections).
void group_forward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, int l, const int* ps, int g,
                   float* const* ys, const float* x, int N, float* const* lus);
// dx[N, in] = the group's input gradient (overwritten); trainable LoRA gradients accumulate into grad.
void group_backward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, Adapter& grad, int l, const int* ps,
                    int g, float* dx, const float* const* dys, const float* x, const float* const* lus, int N,
                    const uint16_t* x16_given = nullptr);
ops::AttnShape attn_shape(const LlamaModel& m, int T, int Tk, int pos0, int kv_stride, int batch);
// Causal attention of a.q over a.k / a.v (appended to layer l of the cache first, when one is given: B = 1), then the
// output projection with its LoRA stack into a.x2. kv_stride: the width of a K / V row.
void attention_and_output(const LlamaModel& m, const AdapterStack& st, Workspace& ws, int l, LayerActs& a,
                          int kv_stride, KVCache* cache);

// GPT-2 (gpt2_layer.cc): wpe rows pos0.. added to the embedded tokens (an error past n_positions), and one block
// forward / backward with the same contract as llama.cc's layer_forward / layer_backward.
void gpt2_add_positions(const LlamaModel& m, Workspace& ws, int B, int T);
void gpt2_layer_forward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, int l, LayerActs& a, const float* x,
                        float* out, KVCache* cache);
void gpt2_layer_backward(const LlamaModel& m, const AdapterStack& st, Workspace& ws, Adapter& grad, int l,
                         const LayerActs& a, const float* x);

} // namespace peft
