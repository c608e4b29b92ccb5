// peft_text addon: per text of a batch, the content digest and seeded ranks of the dataset stage (see doc_digests.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace peft_text {

// Texts [ends[i-1], ends[i]) of `text` (UTF-16): per text the first 16 bytes of the SHA-1 of its UTF-8 (lone
// surrogates as U+FFFD, as Node encodes a string) into digest16[16 i..], and per prefix p the rank
// readUIntBE(0, 6) / 2^48 of SHA-256(p + base64(SHA-1)) into ranks[i * prefixes + p]. False when OpenSSL failed.
bool docDigests(const char16_t* text, const int32_t* ends, size_t count, const std::vector<std::string>& prefixes,
                uint8_t* digest16, double* ranks);

// The UTF-8 of n UTF-16 units into out (replaced), lone surrogates as U+FFFD.
void utf16ToUtf8(const char16_t* s, size_t n, std::string& out);

} // namespace peft_text
