// JS bindings for this part of the engine (registered from addon.cc).
#include <napi.h>

namespace peft {
void register_kernel_bindings(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}
} // namespace peft
