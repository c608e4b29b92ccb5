// peft_text addon: JsonPieces (see jsonl_format.h). The tests compare its bytes with the JS writer's (jsonl-bytes.ts
// over spm-decoder.ts) on real text, byte pieces and invalid UTF-8 included.
#include "text_addon/jsonl_format.h"

#include <cstring>

namespace peft_text {

namespace {

// `${id}` in ASCII at out; returns the bytes written.
size_t writeInt(int32_t id, uint8_t* out) {
  char tmp[12];
  size_t n = 0;
  int64_t v = id;
  const bool neg = v < 0;
  if (neg) v = -v;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  size_t w = 0;
  if (neg) out[w++] = '-';
  while (n > 0) out[w++] = static_cast<uint8_t>(tmp[--n]);
  return w;
}

// An ASCII byte JSON-escaped as JSON.stringify escapes it ('"', '\\', U+0000-U+001F); returns the bytes written.
size_t jsonByte(uint8_t b, uint8_t* out) {
  if (b >= 0x20 && b != '"' && b != '\\') {
    out[0] = b;
    return 1;
  }
  out[0] = '\\';
  switch (b) {
    case '"': out[1] = '"'; return 2;
    case '\\': out[1] = '\\'; return 2;
    case '\b': out[1] = 'b'; return 2;
    case '\f': out[1] = 'f'; return 2;
    case '\n': out[1] = 'n'; return 2;
    case '\r': out[1] = 'r'; return 2;
    case '\t': out[1] = 't'; return 2;
    default: break;
  }
  static const char kHex[] = "0123456789abcdef";
  out[1] = 'u';
  out[2] = '0';
  out[3] = '0';
  out[4] = static_cast<uint8_t>(kHex[b >> 4]);
  out[5] = static_cast<uint8_t>(kHex[b & 15]);
  return 6;
}

size_t putUtf8(uint32_t c, uint8_t* out) {
  if (c < 0x80) return jsonByte(static_cast<uint8_t>(c), out);
  if (c < 0x800) {
    out[0] = static_cast<uint8_t>(0xc0 | (c >> 6));
    out[1] = static_cast<uint8_t>(0x80 | (c & 0x3f));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = static_cast<uint8_t>(0xe0 | (c >> 12));
    out[1] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3f));
    out[2] = static_cast<uint8_t>(0x80 | (c & 0x3f));
    return 3;
  }
  out[0] = static_cast<uint8_t>(0xf0 | (c >> 18));
  out[1] = static_cast<uint8_t>(0x80 | ((c >> 12) & 0x3f));
  out[2] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3f));
  out[3] = static_cast<uint8_t>(0x80 | (c & 0x3f));
  return 4;
}

} // namespace

uint8_t* endByteRun(uint8_t* run, uint8_t* end, std::vector<uint8_t>& scratch) {
  const uint8_t* from = run;
  if (end - run >= 3 && run[0] == 0xef && run[1] == 0xbb && run[2] == 0xbf) from += 3; // a fresh TextDecoder's BOM
  scratch.assign(from, static_cast<const uint8_t*>(end));
  uint8_t* o = run; // the output never outruns the input by more than the room kept (6 bytes a byte)
  // The WHATWG UTF-8 decoder (what TextDecoder runs): each maximal invalid subpart becomes U+FFFD.
  uint32_t cp = 0, needed = 0, seen = 0, lower = 0x80, upper = 0xbf;
  size_t seqStart = 0;
  const size_t n = scratch.size();
  for (size_t i = 0; i < n;) {
    const uint8_t b = scratch[i];
    if (needed == 0) {
      seqStart = i;
      i++;
      if (b < 0x80) {
        o += jsonByte(b, o);
      } else if (b >= 0xc2 && b <= 0xdf) {
        needed = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b == 0xe0) lower = 0xa0;
        if (b == 0xed) upper = 0x9f;
        needed = 2;
        cp = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b == 0xf0) lower = 0x90;
        if (b == 0xf4) upper = 0x8f;
        needed = 3;
        cp = b & 0x7;
      } else {
        o += putUtf8(0xfffd, o);
      }
      continue;
    }
    if (b < lower || b > upper) {
      cp = needed = seen = 0;
      lower = 0x80;
      upper = 0xbf;
      o += putUtf8(0xfffd, o);
      continue; // b is read again as the start of a sequence
    }
    lower = 0x80;
    upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    i++;
    if (++seen == needed) {
      // a valid sequence: its bytes as they were
      std::memcpy(o, scratch.data() + seqStart, i - seqStart);
      o += i - seqStart;
      cp = needed = seen = 0;
    }
  }
  if (needed != 0) o += putUtf8(0xfffd, o);
  return o;
}

JsonPieces::JsonPieces(std::vector<uint8_t> kind, std::vector<uint8_t> bytes, std::vector<uint32_t> offsets)
    : kind_(std::move(kind)), bytes_(std::move(bytes)), offsets_(std::move(offsets)) {
  const size_t n = kind_.size();
  digits_.resize(n);
  short_.resize(n);
  digitsLen_.resize(n);
  maxLen_.resize(n);
  for (size_t id = 0; id < n; id++) {
    uint8_t d[16];
    size_t len = writeInt(static_cast<int32_t>(id), d);
    d[len++] = ',';
    std::memset(d + len, 0, 16 - len);
    std::memcpy(&digits_[id], d, 8);
    digitsLen_[id] = static_cast<uint8_t>(len);
    const size_t plen = offsets_[id + 1] - offsets_[id];
    if (kind_[id] == kString && plen <= 8) {
      uint8_t b[8] = {0};
      std::memcpy(b, bytes_.data() + offsets_[id], plen);
      std::memcpy(&short_[id], b, 8);
    }
    const size_t piece = kind_[id] == kString ? plen : kind_[id] == kByte ? 6 : 0; // a byte: \u00XX at most
    maxLen_[id] = static_cast<uint8_t>(piece + 2 * len < 255 ? piece + 2 * len : 255);
  }
}

size_t JsonPieces::decodeJson(const int32_t* ids, size_t count, uint8_t* out) const {
  std::vector<uint8_t> scratch;
  uint8_t* o = out;
  uint8_t* run = nullptr;
  for (size_t k = 0; k < count; k++) {
    const int32_t id = ids[k];
    const uint8_t kd = kindOf(id);
    if (kd == kByte) {
      if (!run) run = o;
      *o++ = bytes_[offsets_[static_cast<size_t>(id)]];
      continue;
    }
    if (run) {
      o = endByteRun(run, o, scratch);
      run = nullptr;
    }
    if (kd == kNoPiece) continue;
    const size_t at = offsets_[static_cast<size_t>(id)], len = offsets_[static_cast<size_t>(id) + 1] - at;
    if (len <= 8)
      std::memcpy(o, &short_[static_cast<size_t>(id)], 8); // room for 8 bytes is kept past the end
    else
      std::memcpy(o, bytes_.data() + at, len);
    o += len;
  }
  if (run) o = endByteRun(run, o, scratch);
  size_t n = static_cast<size_t>(o - out);
  if (n > 0 && out[0] == 0x20) { // Strip " " (1, 0); an escape starts with "\\"
    std::memmove(out, out + 1, n - 1);
    n--;
  }
  return n;
}

size_t JsonPieces::bound(const int32_t* ids, size_t count, size_t seqLen) const {
  size_t b = 16; // 8-byte stores past the last byte
  for (size_t k = 0; k < count; k++) {
    const int32_t id = ids[k];
    if (id >= 0 && static_cast<size_t>(id) < kind_.size() && maxLen_[static_cast<size_t>(id)] < 255) {
      b += maxLen_[static_cast<size_t>(id)];
      continue;
    }
    b += 2 * 12; // `${id},` twice
    if (kindOf(id) == kString) b += offsets_[static_cast<size_t>(id) + 1] - offsets_[static_cast<size_t>(id)];
  }
  return b + (count / (seqLen ? seqLen : 1) + 1) * 48;
}

size_t JsonPieces::formatSequences(const int32_t* ids, size_t count, size_t seqLen, uint8_t* out) const {
  static const char kIds[] = "{\"ids\":[", kLabels[] = "],\"labels\":[", kText[] = "],\"text\":\"", kEnd[] = "\"}\n";
  uint8_t* o = out;
  for (size_t a = 0; a < count; a += seqLen) {
    const size_t n = count - a < seqLen ? count - a : seqLen;
    const int32_t* seq = ids + a;
    std::memcpy(o, kIds, sizeof kIds - 1);
    o += sizeof kIds - 1;
    uint8_t* idsAt = o;
    for (size_t k = 0; k < n; k++) {
      const int32_t id = seq[k];
      if (id >= 0 && static_cast<size_t>(id) < kind_.size() && digitsLen_[static_cast<size_t>(id)] <= 8) {
        std::memcpy(o, &digits_[static_cast<size_t>(id)], 8);
        o += digitsLen_[static_cast<size_t>(id)];
      } else {
        o += writeInt(id, o);
        *o++ = ',';
      }
    }
    if (n > 0) o--; // the last comma
    const size_t idsLen = static_cast<size_t>(o - idsAt);
    std::memcpy(o, kLabels, sizeof kLabels - 1);
    o += sizeof kLabels - 1;
    std::memcpy(o, idsAt, idsLen); // labels are the ids themselves
    o += idsLen;
    std::memcpy(o, kText, sizeof kText - 1);
    o += sizeof kText - 1;
    o += decodeJson(seq, n, o);
    std::memcpy(o, kEnd, sizeof kEnd - 1);
    o += sizeof kEnd - 1;
  }
  return static_cast<size_t>(o - out);
}

} // namespace peft_text
