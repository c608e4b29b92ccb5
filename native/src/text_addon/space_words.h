// peft_text addon: the word split and word cache of src/hf/space-word-encoder.ts in C++ (SentencePiece-style BPE:
// Prepend "▁" + Replace " " → "▁", a split before each "▁", done on the raw UTF-16 text), for many texts per call.
// A word not in the cache is encoded by a callback (the JS BPE word encoder), so BPE itself has one implementation.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

namespace peft_text {

// A growable array of ids, grown without zero-filling (a word's few ids are appended by a short loop).
struct IdSink {
  std::unique_ptr<int32_t[]> data;
  size_t size = 0, cap = 0;
  void reserve(size_t extra) {
    if (size + extra <= cap) return;
    size_t c = cap ? cap * 2 : 4096;
    while (c < size + extra) c *= 2;
    std::unique_ptr<int32_t[]> next(new int32_t[c]);
    if (size) std::memcpy(next.get(), data.get(), size * sizeof(int32_t));
    data.swap(next);
    cap = c;
  }
};

class SpaceWords {
 public:
  // `encodeWord(units, count, ids)`: appends the ids of the word (its UTF-16 units, "▁" marks first) to `ids`; false
  // when it failed (a JS exception is pending), which stops the encode.
  using WordFn = std::function<bool(const char16_t*, size_t, std::vector<int32_t>&)>;

  explicit SpaceWords(size_t maxEntries) : maxEntries_(maxEntries) { clear(); }

  // Appends the ids of each text [ends[i-1], ends[i]) of `text` (UTF-16 units, no "▁" in it) to `out`, and the end
  // of each text's ids to idEnds[i]; false when encodeWord failed.
  bool encode(const char16_t* text, const int32_t* ends, size_t count, IdSink& out, int32_t* idEnds,
              const WordFn& encodeWord);

 private:
  // slots_: per slot [hash, record offset + 1] (0: empty). pool_: records [hash, length, marks, id count, units…,
  // ids…] back to back (units widened to 32 bits).
  std::vector<uint32_t> slots_;
  std::vector<int32_t> pool_;
  size_t mask_ = 0;
  size_t count_ = 0;
  size_t maxEntries_;
  std::vector<char16_t> word_;   // a missed word: marks, then its units
  std::vector<int32_t> wordIds_; // its ids

  // The words of a block of texts, split before they are looked up (so the lookups can prefetch ahead).
  struct Word {
    uint32_t start, len; // units in the text
    int32_t marks;
    uint32_t hash;
  };
  std::vector<Word> words_;
  std::vector<size_t> textWords_; // per text of the block: the end of its words

  void split(const char16_t* chars, size_t from, size_t to);
  size_t slotOf(uint32_t hash) const { return (hash ^ (hash >> 15)) & mask_; }
  bool lookup(const char16_t* text, const Word& w, IdSink& out, const WordFn& encodeWord);
  void clear();
  void insert(const char16_t* chars, size_t len, int32_t marks, uint32_t hash, size_t slot);
  void rehash();
};

} // namespace peft_text
