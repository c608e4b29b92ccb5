// peft_text addon: SpaceWords, the word split and cache of src/hf/space-word-encoder.ts (see space_words.h); the JS
// class is the reference the tests compare this one against.
#include "text_addon/space_words.h"

namespace peft_text {

namespace {
constexpr char16_t kMark = 0x2581; // "▁"
}

void SpaceWords::clear() {
  mask_ = (size_t{1} << 16) - 1;
  slots_.assign(2 * (mask_ + 1), 0);
  pool_.clear();
  count_ = 0;
}

// The words of text [from, to): a word is a run of non-spaces with the count of "▁" marks before it (1 + the extra
// spaces; the first word gets the prepended one); spaces at the end are marks with no word.
void SpaceWords::split(const char16_t* chars, size_t from, size_t to) {
  if (from == to) return;
  int32_t marks = 1;
  size_t i = from;
  while (i <= to) {
    const size_t start = i;
    uint32_t h = static_cast<uint32_t>(marks) * 0x9e3779b1u ^ 0x811c9dc5u;
    if (i < to) {
      char16_t c = chars[i];
      if (c == 32) {
        marks++;
        i++;
        continue;
      }
      for (;;) {
        h = (h ^ c) * 0x01000193u;
        if (++i == to) break;
        c = chars[i];
        if (c == 32) break;
      }
    } else if (marks == 0) {
      break;
    } else {
      i++; // i past the end ends the loop
    }
    const size_t end = i < to ? i : to;
    words_.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(end - start), marks, h});
    marks = 0;
  }
}

// Appends the ids of word w (from the cache, or encodeWord and cached); false when encodeWord failed.
bool SpaceWords::lookup(const char16_t* text, const Word& w, IdSink& out, const WordFn& encodeWord) {
  const char16_t* chars = text + w.start;
  const size_t len = w.len;
  size_t slot = slotOf(w.hash);
  for (;;) {
    const int64_t r = static_cast<int64_t>(slots_[2 * slot + 1]) - 1;
    if (r < 0) break;
    const int32_t* rec = pool_.data() + r;
    if (slots_[2 * slot] == w.hash && rec[1] == static_cast<int32_t>(len) && rec[2] == w.marks) {
      size_t k = 0;
      while (k < len && rec[4 + k] == chars[k]) k++;
      if (k == len) {
        const int32_t* ids = rec + 4 + len;
        const size_t m = static_cast<size_t>(rec[3]);
        out.reserve(m);
        int32_t* o = out.data.get() + out.size;
        for (size_t k = 0; k < m; k++) o[k] = ids[k];
        out.size += m;
        return true;
      }
    }
    slot = (slot + 1) & mask_;
  }
  word_.assign(static_cast<size_t>(w.marks), kMark);
  word_.insert(word_.end(), chars, chars + len);
  wordIds_.clear();
  if (!encodeWord(word_.data(), word_.size(), wordIds_)) return false;
  out.reserve(wordIds_.size());
  if (!wordIds_.empty()) std::memcpy(out.data.get() + out.size, wordIds_.data(), wordIds_.size() * sizeof(int32_t));
  out.size += wordIds_.size();
  insert(chars, len, w.marks, w.hash, slot);
  return true;
}

bool SpaceWords::encode(const char16_t* text, const int32_t* ends, size_t count, IdSink& out, int32_t* idEnds,
                        const WordFn& encodeWord) {
  // Blocks of whole texts, ~4096 words each: split, then looked up in order, the slot of the word kAhead words on and
  // the record of the word kAhead / 2 on prefetched (the cache outgrows the CPU caches: each lookup of a rare word
  // would wait for memory twice).
  constexpr size_t kBlock = 4096, kAhead = 16;
  size_t t = 0;
  while (t < count) {
    const size_t first = t;
    words_.clear();
    textWords_.clear();
    for (; t < count && words_.size() < kBlock; t++) {
      split(text, t == 0 ? 0 : static_cast<size_t>(ends[t - 1]), static_cast<size_t>(ends[t]));
      textWords_.push_back(words_.size());
    }
    size_t cur = first;
    const size_t nw = words_.size();
    for (size_t j = 0; j < nw; j++) {
      if (j + kAhead < nw) __builtin_prefetch(&slots_[2 * slotOf(words_[j + kAhead].hash)]);
      if (j + kAhead / 2 < nw) {
        const Word& a = words_[j + kAhead / 2];
        const size_t s = 2 * slotOf(a.hash);
        if (slots_[s + 1] != 0 && slots_[s] == a.hash) __builtin_prefetch(pool_.data() + slots_[s + 1] - 1);
      }
      while (textWords_[cur - first] == j) idEnds[cur++] = static_cast<int32_t>(out.size); // texts with no word
      if (!lookup(text, words_[j], out, encodeWord)) return false;
    }
    for (; cur < t; cur++) idEnds[cur] = static_cast<int32_t>(out.size);
  }
  return true;
}

void SpaceWords::insert(const char16_t* chars, size_t len, int32_t marks, uint32_t hash, size_t slot) {
  // Bounded memory (entries, and 256 MB of records: offsets stay 32-bit); the next occurrence re-inserts it.
  constexpr size_t kMaxPool = size_t{1} << 26;
  if (count_ >= maxEntries_ || pool_.size() + 4 + len + wordIds_.size() > kMaxPool) {
    clear();
    return;
  }
  const size_t r = pool_.size();
  pool_.push_back(static_cast<int32_t>(hash));
  pool_.push_back(static_cast<int32_t>(len));
  pool_.push_back(marks);
  pool_.push_back(static_cast<int32_t>(wordIds_.size()));
  for (size_t k = 0; k < len; k++) pool_.push_back(chars[k]);
  pool_.insert(pool_.end(), wordIds_.begin(), wordIds_.end());
  slots_[2 * slot] = hash;
  slots_[2 * slot + 1] = static_cast<uint32_t>(r + 1);
  if (++count_ * 2 > mask_) rehash();
}

void SpaceWords::rehash() {
  std::vector<uint32_t> old;
  old.swap(slots_);
  mask_ = mask_ * 2 + 1;
  slots_.assign(2 * (mask_ + 1), 0);
  for (size_t s = 0; s < old.size(); s += 2) {
    if (old[s + 1] == 0) continue;
    const uint32_t hash = old[s];
    size_t slot = (hash ^ (hash >> 15)) & mask_;
    while (slots_[2 * slot + 1] != 0) slot = (slot + 1) & mask_;
    slots_[2 * slot] = hash;
    slots_[2 * slot + 1] = old[s + 1];
  }
}

} // namespace peft_text
