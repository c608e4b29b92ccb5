// peft_text addon: stages/dataset/clean.ts's normalizeWhitespace in C++ (one pass over the UTF-16 units).
#pragma once
#include <cstddef>
#include <vector>

namespace peft_text {

// normalizeWhitespace(s) of the n units at s into out (replaced): CRLF → LF, zero-width spaces / BOMs removed, tabs
// and runs of horizontal spaces → one space, no space next to a newline, at most one blank line, trimmed ends.
// Returns whether every output unit is below U+0100 (the string can be one-byte).
bool normalizeWhitespace(const char16_t* s, size_t n, std::vector<char16_t>& out);

} // namespace peft_text
