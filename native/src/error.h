// The engine's one exception type: a stable code (E_MODEL, E_ADAPTER, E_ENGINE, E_CANCELLED ...) and a message
// naming the file / tensor. addon.cc turns it into a JS Error with `code`; nothing in the engine aborts on bad input.
#pragma once
#include <stdexcept>
#include <string>

namespace peft {

struct EngineError : std::runtime_error {
  std::string code;
  EngineError(std::string c, const std::string& msg) : std::runtime_error(msg), code(std::move(c)) {}
};

} // namespace peft
