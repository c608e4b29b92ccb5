// peft_text addon: the dataset stage's content digest (SHA-1 of the text: stream-docs.ts) and seeded ranks
// (sample.ts: SHA-256 of `${seed}\0${salt}\0${base64 digest}`) for a whole chunk of texts in one call, through the
// OpenSSL that Node itself exports. Exactly the JS values: the tests compare them on real text.
#include "text_addon/doc_digests.h"

#include <openssl/evp.h>

#include <cstring>

namespace peft_text {

void utf16ToUtf8(const char16_t* s, size_t n, std::string& out) {
  out.resize(n * 3); // at most 3 bytes a unit (a surrogate pair: 4 bytes for 2 units)
  char* o = out.data();
  size_t i = 0;
  while (i < n) {
    // A run of ASCII, 4 units at a time where it can.
    while (i + 4 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if (w & 0xff80ff80ff80ff80ull) break;
      o[0] = static_cast<char>(s[i]);
      o[1] = static_cast<char>(s[i + 1]);
      o[2] = static_cast<char>(s[i + 2]);
      o[3] = static_cast<char>(s[i + 3]);
      o += 4;
      i += 4;
    }
    if (i == n) break;
    uint32_t c = s[i++];
    if (c < 0x80) {
      *o++ = static_cast<char>(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i < n && s[i] >= 0xdc00 && s[i] <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (s[i] - 0xdc00);
        i++;
      } else {
        c = 0xfffd; // a lone surrogate
      }
    }
    if (c < 0x800) {
      *o++ = static_cast<char>(0xc0 | (c >> 6));
    } else if (c < 0x10000) {
      *o++ = static_cast<char>(0xe0 | (c >> 12));
      *o++ = static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    } else {
      *o++ = static_cast<char>(0xf0 | (c >> 18));
      *o++ = static_cast<char>(0x80 | ((c >> 12) & 0x3f));
      *o++ = static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    }
    *o++ = static_cast<char>(0x80 | (c & 0x3f));
  }
  out.resize(static_cast<size_t>(o - out.data()));
}

namespace {

// Buffer.toString('base64') of 20 bytes: 28 characters, one '=' of padding.
void base64(const uint8_t* b, size_t n, std::string& out) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8) | b[i + 2];
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t{b[i]} << 16;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
}

// An EVP context and the fetched digests, freed on every path.
struct Hashers {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_MD* sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  ~Hashers() {
    EVP_MD_free(sha256);
    EVP_MD_free(sha1);
    EVP_MD_CTX_free(ctx);
  }
  bool ok() const { return ctx && sha1 && sha256; }
  bool digest(const EVP_MD* md, const void* data, size_t n, uint8_t* out) {
    unsigned len = 0;
    return EVP_DigestInit_ex(ctx, md, nullptr) == 1 && EVP_DigestUpdate(ctx, data, n) == 1 &&
           EVP_DigestFinal_ex(ctx, out, &len) == 1;
  }
};

} // namespace

bool docDigests(const char16_t* text, const int32_t* ends, size_t count, const std::vector<std::string>& prefixes,
                uint8_t* digest16, double* ranks) {
  Hashers h;
  if (!h.ok()) return false;
  std::string utf8;
  std::string keyed;
  uint8_t sha1[20];
  uint8_t sha256[32];
  size_t from = 0;
  for (size_t i = 0; i < count; i++) {
    const size_t to = static_cast<size_t>(ends[i]);
    utf16ToUtf8(text + from, to - from, utf8);
    if (!h.digest(h.sha1, utf8.data(), utf8.size(), sha1)) return false;
    std::memcpy(digest16 + 16 * i, sha1, 16);
    for (size_t p = 0; p < prefixes.size(); p++) {
      keyed.assign(prefixes[p]);
      base64(sha1, sizeof sha1, keyed);
      if (!h.digest(h.sha256, keyed.data(), keyed.size(), sha256)) return false;
      uint64_t v = 0;
      for (int k = 0; k < 6; k++) v = (v << 8) | sha256[k];
      ranks[i * prefixes.size() + p] = static_cast<double>(v) / 281474976710656.0; // 2^48
    }
    from = to;
  }
  return true;
}

} // namespace peft_text
