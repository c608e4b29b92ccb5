// T5 LoRA adapters in the PEFT format: keys base_model.model.{encoder|decoder}.block.{i}.layer.{j}.{SelfAttention|
// EncDecAttention|DenseReluDense}.{q,k,v,o,wi_0,wi_1,wo}.lora_{A|B}.weight, load / save / seeded PEFT-style init.
#pragma once
#include <memory>
#include <string>
#include <vector>
#include "t5/t5_model.h"

namespace peft::t5 {

// PEFT key of module (stack, block, slot).
std::string t5_lora_key(int stk, int l, int s, bool isA);
// Target names (q, k, v, o, wi_0, wi_1, wo, all-linear: every linear but lm_head, as PEFT) to a per-slot mask.
void t5_target_mask(const std::vector<std::string>& targets, bool mask[N_SLOT], const std::string& where);
std::shared_ptr<T5Adapter> t5_load_adapter(const T5Model& m, const std::string& path, int r, double alpha, bool rslora,
                                           const std::vector<std::string>& targets, const std::string& name);
void t5_save_adapter(const T5Adapter& a, const std::string& path);
// A Kaiming-uniform (bound 1/sqrt(in)) from the seed, B zero, on every slot the targets select.
std::shared_ptr<T5Adapter> t5_init_adapter(const T5Model& m, int r, double alpha, bool rslora,
                                           const std::vector<std::string>& targets, uint64_t seed);
// fn(key, values) over every tensor in PEFT key order.
template <class A, class F>
void t5_for_each_tensor(A& a, F&& fn) {
  for (int stk = 0; stk < 2; stk++)
    for (size_t l = 0; l < a.mods[stk].size(); l++)
      for (int s = 0; s < N_SLOT; s++)
        if (auto* w = a.mods[stk][l][s].get()) {
          fn(t5_lora_key(stk, (int)l, s, true), w->A);
          fn(t5_lora_key(stk, (int)l, s, false), w->B);
        }
}

} // namespace peft::t5
