// Planned memory, llm.c-style: one Arena per role (LoRA params, grads, optimizer state, activations, scratch),
// sized up front from the model config and batch shape, then carved into named float buffers; never grows.
#pragma once
#include <cstddef>
#include <string>
#include <vector>
#include "error.h"

namespace peft {

class Arena {
 public:
  Arena() = default;
  explicit Arena(std::string role) : role_(std::move(role)) {}
  // Reserve the total number of floats once; take() then hands out consecutive slices.
  void plan(size_t floats) {
    buf_.assign(floats, 0.f);
    used_ = 0;
  }
  float* take(size_t n) {
    if (used_ + n > buf_.size())
      throw EngineError("E_INTERNAL", "arena '" + role_ + "' overflow: planned " + std::to_string(buf_.size()) +
                                          " floats, asked for " + std::to_string(used_ + n));
    float* p = buf_.data() + used_;
    used_ += n;
    return p;
  }
  void zero() { std::fill(buf_.begin(), buf_.end(), 0.f); }
  size_t bytes() const { return buf_.size() * sizeof(float); }
  float* data() { return buf_.data(); }
  size_t size() const { return buf_.size(); }

 private:
  std::string role_;
  std::vector<float> buf_;
  size_t used_ = 0;
};

} // namespace peft
