// peft_text addon: the JSONL lines of packed `text` sequences (stages/dataset/stream-format.ts), decoded and written
// in one pass: the bytes of jsonl-bytes.ts's writer over PackedRecords whose text is spm-decoder.ts's decodeUtf8.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace peft_text {

// The SentencePiece decoder's pieces (Replace "▁" → " ", ByteFallback, Fuse, Strip " " (1, 0)) for JSON output:
// per id a kind (kNoPiece, kByte: a <0xXX> token, kString) and, for a string piece, the UTF-8 of its text
// JSON-escaped as JSON.stringify escapes it (pieces[offsets[id], offsets[id + 1])); for a byte piece its byte.
class JsonPieces {
 public:
  static constexpr uint8_t kNoPiece = 0, kByte = 1, kString = 2;
  JsonPieces(std::vector<uint8_t> kind, std::vector<uint8_t> bytes, std::vector<uint32_t> offsets);

  // The most bytes `count` ids take in formatSequences' output (a bound, not the size).
  size_t bound(const int32_t* ids, size_t count, size_t seqLen) const;
  // The JSONL lines of ids cut every seqLen ids ({"ids":[…],"labels":[…],"text":"…"}\n each) into out (room for
  // bound() bytes); returns the bytes written.
  size_t formatSequences(const int32_t* ids, size_t count, size_t seqLen, uint8_t* out) const;

 private:
  std::vector<uint8_t> kind_;
  std::vector<uint8_t> bytes_;
  std::vector<uint32_t> offsets_;
  // Per id below kind_.size(): `${id},` packed little-endian into one 8-byte store and its length; the piece's bytes
  // (string pieces of up to 8 bytes) likewise, and the most bytes the id takes in the output.
  std::vector<uint64_t> digits_, short_;
  std::vector<uint8_t> digitsLen_, maxLen_;

  uint8_t kindOf(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < kind_.size() ? kind_[static_cast<size_t>(id)] : kNoPiece;
  }
  size_t decodeJson(const int32_t* ids, size_t count, uint8_t* out) const;
};

// A run of byte pieces [run, end) as decoded on its own, JSON-escaped, written from `run` on (a BOM at its start
// dropped, each invalid sequence as U+FFFD as TextDecoder replaces it); `scratch` holds a copy. Returns the new end.
uint8_t* endByteRun(uint8_t* run, uint8_t* end, std::vector<uint8_t>& scratch);

} // namespace peft_text
