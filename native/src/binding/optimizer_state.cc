// The optimizer-state checkpoint file (see optimizer_state.h): one writer, one strict reader for every trainer.
#include "binding/optimizer_state.h"
#include "error.h"

namespace peft::binding {

void write_optimizer_state(const std::string& path, const std::vector<NamedTensor>& tensors, long steps) {
  write_safetensors_f32(path, tensors, {{"format", "pt"}, {"step", std::to_string(steps)}});
}

OptimizerStateReader::OptimizerStateReader(const std::string& path) : path_(path), file_(path) {}

void OptimizerStateReader::read(const std::string& key, bool exp_avg_sq, std::vector<float>& dst) {
  const std::string k = key + (exp_avg_sq ? ".exp_avg_sq" : ".exp_avg");
  auto it = file_.tensors().find(k);
  if (it == file_.tensors().end() || (size_t)it->second.numel() != dst.size())
    throw EngineError("E_ADAPTER", path_ + ": optimizer tensor '" + k + "' is missing or has the wrong size");
  it->second.to_f32(dst.data());
  used_++;
}

long OptimizerStateReader::finish() const {
  if (used_ != file_.tensors().size())
    throw EngineError("E_ADAPTER", path_ + ": holds optimizer tensors for modules the trainer does not have");
  auto st = file_.metadata().find("step");
  if (st == file_.metadata().end()) throw EngineError("E_ADAPTER", path_ + ": metadata has no 'step'");
  return std::stol(st->second);
}

} // namespace peft::binding
