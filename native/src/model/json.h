// A small, strict, bounds-checked recursive-descent JSON parser (RFC 8259) for config.json, safetensors headers,
// index and adapter files. Errors are EngineError(code) naming the file, line and column; it never reads past the input.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace peft {
namespace json {

enum class Type { Null, Bool, Number, String, Array, Object };

struct Value {
  Type type = Type::Null;
  bool boolean = false;
  double number = 0.0;
  bool is_integer = false; // the literal had no fraction or exponent and fits int64
  int64_t integer = 0;     // valid when is_integer
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object; // in document order; keys are unique

  bool is_null() const { return type == Type::Null; }
  bool is_bool() const { return type == Type::Bool; }
  bool is_number() const { return type == Type::Number; }
  bool is_string() const { return type == Type::String; }
  bool is_array() const { return type == Type::Array; }
  bool is_object() const { return type == Type::Object; }
  // Member lookup on an object (nullptr when absent or when this is not an object).
  const Value* get(const std::string& key) const;
};

const char* type_name(Type t);

// Parses exactly one JSON value (surrounding whitespace allowed). Rejects comments, trailing commas, NaN/Infinity,
// control characters in strings, invalid escapes and UTF-16 surrogates, duplicate object keys, nesting deeper than 512.
// Throws EngineError(code, "<file>:<line>:<col>: <problem>").
Value parse(const char* data, size_t size, const std::string& file, const std::string& code = "E_MODEL");
inline Value parse(const std::string& text, const std::string& file, const std::string& code = "E_MODEL") {
  return parse(text.data(), text.size(), file, code);
}

// Serialises a string as a JSON string literal (quotes and escapes).
std::string quote(const std::string& s);

} // namespace json
} // namespace peft
