// The optimizer-state checkpoint file shared by the Llama-family and T5 trainers' bindings: exp_avg / exp_avg_sq per
// LoRA tensor (PEFT key + suffix) as fp32 safetensors, the step count in the metadata; read back strictly.
#pragma once
#include <cstddef>
#include <string>
#include <vector>
#include "model/safetensors.h"

namespace peft::binding {

// Writes the tensors with {"format": "pt", "step": steps}.
void write_optimizer_state(const std::string& path, const std::vector<NamedTensor>& tensors, long steps);

// Reads a file write_optimizer_state wrote: every tensor the trainer asks for must be there with its size, and
// finish() fails if the file holds tensors nobody asked for or has no step; errors name the file and the tensor.
class OptimizerStateReader {
 public:
  explicit OptimizerStateReader(const std::string& path);
  // Fills dst with tensor key + (exp_avg_sq ? ".exp_avg_sq" : ".exp_avg").
  void read(const std::string& key, bool exp_avg_sq, std::vector<float>& dst);
  // The step count from the metadata, after checking that every tensor of the file was read.
  long finish() const;

 private:
  std::string path_;
  SafetensorsFile file_;
  size_t used_ = 0;
};

} // namespace peft::binding
