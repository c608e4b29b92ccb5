// peft_text addon: the dataset stage's per-chunk text work in one call per chunk instead of one per document (loaded
// by src/util/text-addon.ts, in the main thread and in each dataset worker: no state outside the handles it returns).
// spaceWords / spaceWordsEncode / spaceWordsTake: SentencePiece-style word encoding with its word cache
// (space_words.h); docDigests: content digests and seeded ranks (doc_digests.h); jsonPieces / formatSequences: the
// JSONL lines of packed sequences, decoded (jsonl_format.h); normalizeWhitespace(Each): clean.ts's (whitespace.h).
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "text_addon/doc_digests.h"
#include "text_addon/jsonl_format.h"
#include "text_addon/space_words.h"
#include "text_addon/whitespace.h"

namespace {

// A string's UTF-16 units into `out` (resized to them; one more for napi's terminator while copying).
void readUtf16(Napi::Env env, Napi::Value v, std::vector<char16_t>& out) {
  size_t n = 0;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_value_string_utf16(env, v, nullptr, 0, &n));
  out.resize(n + 1);
  size_t written = 0;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_value_string_utf16(env, v, out.data(), n + 1, &written));
  out.resize(written);
}

// The piece ends of a batch: an Int32Array of non-decreasing ends within [0, n]; throws a TypeError otherwise.
const int32_t* readEnds(Napi::Env env, Napi::Value v, size_t n, size_t* count, const char* fn) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, std::string(fn) + ": ends must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  int32_t prev = 0;
  for (size_t i = 0; i < a.ElementLength(); i++) {
    if (a[i] < prev || static_cast<size_t>(a[i]) > n)
      throw Napi::RangeError::New(env, std::string(fn) + ": ends must be non-decreasing and within the text");
    prev = a[i];
  }
  *count = a.ElementLength();
  return a.Data();
}

// One word encoder: the cache, the JS BPE word encoder it calls on a miss, and its scratch buffers.
struct SpaceWordsHandle {
  peft_text::SpaceWords words;
  Napi::FunctionReference encodeWord;
  std::vector<char16_t> text;
  peft_text::IdSink ids;
  std::vector<int32_t> ends;
  explicit SpaceWordsHandle(size_t maxEntries) : words(maxEntries) {}
};

Napi::Value SpaceWords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "spaceWords(encodeWord: (word: string) => number[], maxEntries: number)");
  const double max = info[1].As<Napi::Number>().DoubleValue();
  if (!(max >= 1 && max <= 1e9)) throw Napi::RangeError::New(env, "spaceWords: maxEntries must be in [1, 1e9]");
  auto* h = new SpaceWordsHandle(static_cast<size_t>(max));
  h->encodeWord = Napi::Persistent(info[0].As<Napi::Function>());
  return Napi::External<SpaceWordsHandle>::New(env, h, [](Napi::Env, SpaceWordsHandle* p) { delete p; });
}

// spaceWordsEncode(handle, text, ends, idEnds): encodes each text [ends[i-1], ends[i]) of `text` (no "▁" in it) into
// the handle's buffer, writes the end of each text's ids to idEnds[i] and returns their count (spaceWordsTake copies
// them out: the caller's buffer is reused, no fresh array per call).
Napi::Value SpaceWordsEncode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsExternal() || !info[1].IsString() || !info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, "spaceWordsEncode(handle, text: string, ends: Int32Array, idEnds: Int32Array)");
  SpaceWordsHandle* h = info[0].As<Napi::External<SpaceWordsHandle>>().Data();
  readUtf16(env, info[1], h->text);
  const size_t n = h->text.size();
  size_t count = 0;
  const int32_t* given = readEnds(env, info[2], n, &count, "spaceWordsEncode");
  h->text.resize(n + 8, 0);                              // SpaceWords reads 8 units at a time
  const std::vector<int32_t> ends(given, given + count); // a copy: the word callback runs JS
  if (info[3].As<Napi::Int32Array>().ElementLength() < count)
    throw Napi::RangeError::New(env, "spaceWordsEncode: idEnds is shorter than ends");
  h->ids.size = 0;
  h->ends.resize(count);
  const peft_text::SpaceWords::WordFn encodeWord = [&](const char16_t* w, size_t n, std::vector<int32_t>& out) {
    napi_value str;
    NAPI_THROW_IF_FAILED(env, napi_create_string_utf16(env, w, n, &str), false);
    Napi::Value r = h->encodeWord.Call({Napi::Value(env, str)});
    if (!r.IsArray()) throw Napi::TypeError::New(env, "spaceWordsEncode: encodeWord must return number[]");
    Napi::Array a = r.As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); k++) out.push_back(a.Get(k).As<Napi::Number>().Int32Value());
    return true;
  };
  if (!h->words.encode(h->text.data(), ends.data(), count, h->ids, h->ends.data(), encodeWord)) return env.Undefined();
  if (count) std::memcpy(info[3].As<Napi::Int32Array>().Data(), h->ends.data(), count * sizeof(int32_t));
  return Napi::Number::New(env, static_cast<double>(h->ids.size));
}

// spaceWordsTake(handle, out: Int32Array, at): the ids of the last spaceWordsEncode copied into out from `at`.
Napi::Value SpaceWordsTake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsExternal() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[2].IsNumber())
    throw Napi::TypeError::New(env, "spaceWordsTake(handle, out: Int32Array, at: number)");
  SpaceWordsHandle* h = info[0].As<Napi::External<SpaceWordsHandle>>().Data();
  Napi::Int32Array out = info[1].As<Napi::Int32Array>();
  const double at = info[2].As<Napi::Number>().DoubleValue();
  if (!(at >= 0) || at + static_cast<double>(h->ids.size) > static_cast<double>(out.ElementLength()))
    throw Napi::RangeError::New(env, "spaceWordsTake: out has no room for the ids at `at`");
  if (h->ids.size) std::memcpy(out.Data() + static_cast<size_t>(at), h->ids.data.get(), h->ids.size * sizeof(int32_t));
  return env.Undefined();
}

// docDigests(text, ends, prefixes): { digest: Int32Array (4 per text), ranks: Float64Array (prefixes.length per text) }.
Napi::Value DocDigests(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[2].IsArray())
    throw Napi::TypeError::New(env, "docDigests(text: string, ends: Int32Array, prefixes: string[])");
  std::vector<char16_t> text;
  readUtf16(env, info[0], text);
  size_t count = 0;
  const int32_t* ends = readEnds(env, info[1], text.size(), &count, "docDigests");
  Napi::Array p = info[2].As<Napi::Array>();
  std::vector<std::string> prefixes;
  std::vector<char16_t> units;
  for (uint32_t k = 0; k < p.Length(); k++) {
    Napi::Value v = p.Get(k);
    if (!v.IsString()) throw Napi::TypeError::New(env, "docDigests: prefixes must be strings");
    readUtf16(env, v, units);
    prefixes.emplace_back();
    peft_text::utf16ToUtf8(units.data(), units.size(), prefixes.back());
  }
  Napi::Int32Array digest = Napi::Int32Array::New(env, 4 * count);
  Napi::Float64Array ranks = Napi::Float64Array::New(env, count * prefixes.size());
  if (!peft_text::docDigests(text.data(), ends, count, prefixes, reinterpret_cast<uint8_t*>(digest.Data()),
                             ranks.Data()))
    throw Napi::Error::New(env, "docDigests: OpenSSL's SHA-1 / SHA-256 failed");
  Napi::Object out = Napi::Object::New(env);
  out.Set("digest", digest);
  out.Set("ranks", ranks);
  return out;
}

// jsonPieces(kind: Uint8Array, bytes: Uint8Array, offsets: Uint32Array): a handle over the decoder's pieces (see
// jsonl_format.h; offsets has one more entry than kind).
Napi::Value JsonPiecesNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto typed = [&](size_t i, napi_typedarray_type t) {
    return info.Length() > i && info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == t;
  };
  if (!typed(0, napi_uint8_array) || !typed(1, napi_uint8_array) || !typed(2, napi_uint32_array))
    throw Napi::TypeError::New(env, "jsonPieces(kind: Uint8Array, bytes: Uint8Array, offsets: Uint32Array)");
  Napi::Uint8Array kind = info[0].As<Napi::Uint8Array>();
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array offsets = info[2].As<Napi::Uint32Array>();
  const size_t n = kind.ElementLength();
  if (offsets.ElementLength() != n + 1)
    throw Napi::RangeError::New(env, "jsonPieces: offsets must have kind.length + 1 entries");
  for (size_t i = 0; i < n; i++) {
    const size_t need = kind[i] == peft_text::JsonPieces::kByte ? 1 : 0;
    if (kind[i] > peft_text::JsonPieces::kString || offsets[i] > offsets[i + 1] ||
        offsets[i + 1] > bytes.ElementLength() || offsets[i + 1] - offsets[i] < need)
      throw Napi::RangeError::New(env, "jsonPieces: kinds and offsets out of range");
  }
  auto* p = new peft_text::JsonPieces(std::vector<uint8_t>(kind.Data(), kind.Data() + n),
                                      std::vector<uint8_t>(bytes.Data(), bytes.Data() + bytes.ElementLength()),
                                      std::vector<uint32_t>(offsets.Data(), offsets.Data() + n + 1));
  return Napi::External<peft_text::JsonPieces>::New(env, p, [](Napi::Env, peft_text::JsonPieces* q) { delete q; });
}

// formatSequences(handle, ids: Int32Array, seqLen, spare?: ArrayBuffer): the JSONL lines as a Uint8Array over `spare`
// where it has room, else over a buffer of its own.
Napi::Value FormatSequences(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsExternal() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[2].IsNumber())
    throw Napi::TypeError::New(env, "formatSequences(handle, ids: Int32Array, seqLen: number, spare?: ArrayBuffer)");
  const peft_text::JsonPieces* p = info[0].As<Napi::External<peft_text::JsonPieces>>().Data();
  Napi::Int32Array ids = info[1].As<Napi::Int32Array>();
  const double seqLen = info[2].As<Napi::Number>().DoubleValue();
  if (!(seqLen >= 1 && seqLen <= 1e9)) throw Napi::RangeError::New(env, "formatSequences: seqLen must be in [1, 1e9]");
  const size_t n = ids.ElementLength(), len = static_cast<size_t>(seqLen);
  const size_t bound = p->bound(ids.Data(), n, len);
  Napi::ArrayBuffer buf;
  if (info.Length() > 3 && info[3].IsArrayBuffer() && info[3].As<Napi::ArrayBuffer>().ByteLength() >= bound)
    buf = info[3].As<Napi::ArrayBuffer>();
  else
    buf = Napi::ArrayBuffer::New(env, bound);
  const size_t written = p->formatSequences(ids.Data(), n, len, static_cast<uint8_t*>(buf.Data()));
  return Napi::Uint8Array::New(env, written, buf, 0);
}

// A JS string of the units [p, p + n): one-byte where every unit is below U+0100, as clean.ts's JS function makes it
// (the regexes and hashing after it scan those faster).
Napi::Value makeString(Napi::Env env, const char16_t* p, size_t n, bool oneByte, std::vector<char>& latin1) {
  napi_value str;
  if (oneByte) {
    latin1.resize(n);
    for (size_t k = 0; k < n; k++) latin1[k] = static_cast<char>(p[k]);
    NAPI_THROW_IF_FAILED(env, napi_create_string_latin1(env, latin1.data(), n, &str), Napi::Value());
  } else {
    NAPI_THROW_IF_FAILED(env, napi_create_string_utf16(env, p, n, &str), Napi::Value());
  }
  return Napi::Value(env, str);
}

// Scratch buffers per thread: each dataset worker's calls run on its own thread.
thread_local std::vector<char16_t> wsIn, wsOut;
thread_local std::vector<char> wsLatin1;

// normalizeWhitespace(s): clean.ts's normalizeWhitespace.
Napi::Value NormalizeWhitespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "normalizeWhitespace(s: string)");
  readUtf16(env, info[0], wsIn);
  const bool oneByte = peft_text::normalizeWhitespace(wsIn.data(), wsIn.size(), wsOut);
  return makeString(env, wsOut.data(), wsOut.size(), oneByte, wsLatin1);
}

// normalizeWhitespaceEach(text, ends): normalizeWhitespace of each text [ends[i-1], ends[i]) of `text`, as string[].
Napi::Value NormalizeWhitespaceEach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString())
    throw Napi::TypeError::New(env, "normalizeWhitespaceEach(text: string, ends: Int32Array)");
  std::vector<char16_t>& in = wsIn; // the thread's buffers, looked up once
  std::vector<char16_t>& norm = wsOut;
  std::vector<char>& latin1 = wsLatin1;
  readUtf16(env, info[0], in);
  size_t count = 0;
  const int32_t* given = readEnds(env, info[1], in.size(), &count, "normalizeWhitespaceEach");
  const std::vector<int32_t> ends(given, given + count); // a copy: the strings made below may run the GC
  Napi::Array out = Napi::Array::New(env, count);
  size_t from = 0;
  for (size_t i = 0; i < count; i++) {
    const size_t to = static_cast<size_t>(ends[i]);
    const bool oneByte = peft_text::normalizeWhitespace(in.data() + from, to - from, norm);
    out.Set(static_cast<uint32_t>(i), makeString(env, norm.data(), norm.size(), oneByte, latin1));
    from = to;
  }
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("normalizeWhitespace", Napi::Function::New(env, NormalizeWhitespace, "normalizeWhitespace"));
  exports.Set("normalizeWhitespaceEach", Napi::Function::New(env, NormalizeWhitespaceEach, "normalizeWhitespaceEach"));
  exports.Set("jsonPieces", Napi::Function::New(env, JsonPiecesNew, "jsonPieces"));
  exports.Set("formatSequences", Napi::Function::New(env, FormatSequences, "formatSequences"));
  exports.Set("spaceWords", Napi::Function::New(env, SpaceWords, "spaceWords"));
  exports.Set("spaceWordsEncode", Napi::Function::New(env, SpaceWordsEncode, "spaceWordsEncode"));
  exports.Set("spaceWordsTake", Napi::Function::New(env, SpaceWordsTake, "spaceWordsTake"));
  exports.Set("docDigests", Napi::Function::New(env, DocDigests, "docDigests"));
  return exports;
}

} // namespace

NODE_API_MODULE(peft_text, Init)
