// peft_text addon: normalizeWhitespace (see whitespace.h), the loop of clean.ts's JS function, which the tests
// compare it with (and with the regex chain that specifies both) on random strings of tricky characters.
#include "text_addon/whitespace.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace peft_text {

namespace {

// [ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]: the horizontal spaces that collapse to one " ".
inline bool horizontalSpace(char16_t c) {
  return c == 32 || c == 9 || c == 11 || c == 12 ||
         (c >= 0x2000 ? c <= 0x200a || c == 0x202f || c == 0x205f || c == 0x3000 : c == 0xa0);
}

// What String.prototype.trim removes that can be left in the output (the other white space became " " or "\n" or went).
inline bool trimmed(char16_t c) { return c == 32 || c == 10 || c == 0x1680 || c == 0x2028 || c == 0x2029; }

} // namespace

bool normalizeWhitespace(const char16_t* s, size_t n, std::vector<char16_t>& out) {
  out.resize(n + 2);
  char16_t* o = out.data();
  size_t len = 0;
  bool space = false; // a pending run of horizontal spaces
  int newlines = 0;   // pending newlines
  unsigned wide = 0;  // the OR of the units written
  auto pending = [&]() {
    if (newlines > 0) {
      o[len++] = 10;
      if (newlines > 1) o[len++] = 10;
      newlines = 0;
    } else if (space) {
      o[len++] = 32;
    }
    space = false;
  };
  for (size_t i = 0; i < n;) {
    char16_t c = s[i];
    if (c > 32 && c < 0xa0) {
      // A run of printable ASCII (or C1) units and single spaces between them (which stay as they are): the pending
      // break or space first, then the run.
      pending();
#if defined(__SSE2__)
      // 8 units at a time while they are all such (32 <= c < 0xa0 as signed 16-bit: no unit from U+8000 on), no two
      // spaces side by side and no space last (the unit after it could be a newline); block[0] is printable.
      const __m128i lo = _mm_set1_epi16(31), hi = _mm_set1_epi16(0xa0), sp = _mm_set1_epi16(32);
      while (i + 8 <= n) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        const __m128i ok = _mm_and_si128(_mm_cmpgt_epi16(v, lo), _mm_cmplt_epi16(v, hi));
        const int spaces = _mm_movemask_epi8(_mm_cmpeq_epi16(v, sp));
        if (_mm_movemask_epi8(ok) != 0xffff || (spaces & (spaces >> 2)) != 0 || (spaces & 0xc000) != 0) break;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + len), v);
        len += 8;
        i += 8;
      }
      if (i == n) continue;
      c = s[i];
      if (!(c > 32 && c < 0xa0)) continue;
#endif
      for (;;) {
        o[len++] = c;
        if (++i == n) break;
        c = s[i];
        if (c == 32 && i + 1 < n && s[i + 1] > 32 && s[i + 1] < 0xa0) { // one space, then the run goes on
          o[len++] = 32;
          c = s[++i];
        }
        if (!(c > 32 && c < 0xa0)) break;
      }
      continue;
    }
    i++;
    if (c == 13) {
      c = 10;
      if (i < n && s[i] == 10) i++;
    }
    if (c == 10) {
      newlines++;
      space = false;
      continue;
    }
    if (c == 0x200b || c == 0x2060 || c == 0xfeff) continue;
    if (horizontalSpace(c)) {
      if (newlines == 0) space = true;
      continue;
    }
    pending();
    wide |= c;
    o[len++] = c;
  }
  // Pending newlines or a space at the end are dropped: trimmed.
  size_t from = 0, to = len;
  while (from < to && trimmed(o[from])) from++;
  while (to > from && trimmed(o[to - 1])) to--;
  if (from > 0)
    for (size_t k = from; k < to; k++) o[k - from] = o[k];
  out.resize(to - from);
  return wide < 0x100;
}

} // namespace peft_text
