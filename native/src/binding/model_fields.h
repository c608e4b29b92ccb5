// JS properties written from a ModelConfig by more than one binding (modelInfo, parseModelConfig / inspectModel).
#pragma once
#include <napi.h>
#include <vector>
#include "model/config.h"

namespace peft::binding {

// vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, maxPositionEmbeddings.
void set_shape_fields(Napi::Object o, const ModelConfig& c);
Napi::Array int_array(Napi::Env env, const std::vector<int>& v);

} // namespace peft::binding
