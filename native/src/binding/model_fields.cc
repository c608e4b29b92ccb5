// JS properties written from a ModelConfig by more than one binding (see model_fields.h).
#include "binding/model_fields.h"

namespace peft::binding {

void set_shape_fields(Napi::Object o, const ModelConfig& c) {
  o.Set("vocabSize", c.vocab_size);
  o.Set("hiddenSize", c.hidden_size);
  o.Set("intermediateSize", c.intermediate_size);
  o.Set("numLayers", c.num_layers);
  o.Set("numHeads", c.num_heads);
  o.Set("numKvHeads", c.num_kv_heads);
  o.Set("headDim", c.head_dim);
  o.Set("maxPositionEmbeddings", c.max_position_embeddings);
  o.Set("numExperts", c.num_experts); // 0: dense MLP
  o.Set("expertsPerTok", c.experts_per_tok);
  o.Set("routerAuxLossCoef", c.num_experts && c.output_router_logits ? c.router_aux_loss_coef : 0.0);
}

Napi::Array int_array(Napi::Env env, const std::vector<int>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set((uint32_t)i, v[i]);
  return a;
}

} // namespace peft::binding
