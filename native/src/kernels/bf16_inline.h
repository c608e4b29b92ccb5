// Inline scalar bf16 conversions shared by the kernels (round to nearest even, NaN-safe); loops over them vectorise.
#pragma once
#include <cstdint>
#include <cstring>

namespace peft::kern {

inline uint16_t f32_to_bf16_one(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const uint32_t nan = (u >> 16) | 0x0040u; // keep sign and payload top bits, force quiet
  return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? nan : rounded);
}

inline float bf16_to_f32_one(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

} // namespace peft::kern
