// The strict JSON parser declared in json.h: recursive descent over a bounded byte range with line/column errors.
#include "model/json.h"

#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "error.h"

namespace peft {
namespace json {

const Value* Value::get(const std::string& key) const {
  if (type != Type::Object) return nullptr;
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "a boolean";
    case Type::Number: return "a number";
    case Type::String: return "a string";
    case Type::Array: return "an array";
    case Type::Object: return "an object";
  }
  return "?";
}

namespace {

constexpr int kMaxDepth = 512;

class Parser {
 public:
  Parser(const char* d, size_t n, const std::string& file, const std::string& code)
      : p_(d), begin_(d), end_(d + n), file_(file), code_(code) {}

  Value parse_document() {
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (p_ != end_) fail("unexpected characters after the JSON value");
    return v;
  }

 private:
  const char* p_;
  const char* begin_;
  const char* end_;
  const std::string& file_;
  const std::string& code_;

  [[noreturn]] void fail(const std::string& what) const {
    int line = 1, col = 1;
    for (const char* q = begin_; q < p_ && q < end_; ++q) {
      if (*q == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw EngineError(code_,
                      file_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": invalid JSON: " + what);
  }

  bool at_end() const { return p_ >= end_; }
  char peek() const { return at_end() ? '\0' : *p_; }

  void skip_ws() {
    while (!at_end() && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  void expect_literal(const char* lit) {
    size_t n = std::strlen(lit);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, lit, n) != 0) fail(std::string("expected ") + lit);
    p_ += n;
  }

  Value parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 512 levels");
    if (at_end()) fail("unexpected end of input");
    Value v;
    switch (*p_) {
      case '{': parse_object(v, depth); break;
      case '[': parse_array(v, depth); break;
      case '"':
        v.type = Type::String;
        v.string = parse_string();
        break;
      case 't':
        expect_literal("true");
        v.type = Type::Bool;
        v.boolean = true;
        break;
      case 'f':
        expect_literal("false");
        v.type = Type::Bool;
        v.boolean = false;
        break;
      case 'n':
        expect_literal("null");
        v.type = Type::Null;
        break;
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9'))
          parse_number(v);
        else
          fail(std::string("unexpected character '") + (static_cast<unsigned char>(*p_) < 32 ? '?' : *p_) + "'");
    }
    return v;
  }

  void parse_object(Value& v, int depth) {
    v.type = Type::Object;
    ++p_; // {
    skip_ws();
    if (peek() == '}') {
      ++p_;
      return;
    }
    std::unordered_set<std::string> seen;
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key");
      std::string key = parse_string();
      if (!seen.insert(key).second) fail("duplicate key \"" + key + "\"");
      skip_ws();
      if (peek() != ':') fail("expected ':' after key \"" + key + "\"");
      ++p_;
      skip_ws();
      Value child = parse_value(depth + 1);
      v.object.emplace_back(std::move(key), std::move(child));
      skip_ws();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      if (peek() == '}') {
        ++p_;
        return;
      }
      fail("expected ',' or '}' in object");
    }
  }

  void parse_array(Value& v, int depth) {
    v.type = Type::Array;
    ++p_; // [
    skip_ws();
    if (peek() == ']') {
      ++p_;
      return;
    }
    for (;;) {
      skip_ws();
      v.array.push_back(parse_value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      if (peek() == ']') {
        ++p_;
        return;
      }
      fail("expected ',' or ']' in array");
    }
  }

  unsigned hex4() {
    if (end_ - p_ < 4) fail("truncated \\u escape");
    unsigned u = 0;
    for (int i = 0; i < 4; ++i) {
      char c = *p_++;
      u <<= 4;
      if (c >= '0' && c <= '9')
        u |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        u |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        u |= static_cast<unsigned>(c - 'A' + 10);
      else
        fail("invalid hex digit in \\u escape");
    }
    return u;
  }

  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    ++p_; // opening quote
    std::string out;
    for (;;) {
      if (at_end()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c != '\\') {
        out += static_cast<char>(c);
        ++p_;
        continue;
      }
      ++p_;
      if (at_end()) fail("unterminated escape");
      char e = *p_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') fail("unpaired UTF-16 surrogate in \\u escape");
            p_ += 2;
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("invalid UTF-16 low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired UTF-16 surrogate in \\u escape");
          }
          put_utf8(out, cp);
          break;
        }
        default: fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  void parse_number(Value& v) {
    const char* start = p_;
    bool integral = true;
    if (peek() == '-') ++p_;
    if (peek() == '0') {
      ++p_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++p_;
    } else {
      fail("invalid number");
    }
    if (peek() == '.') {
      integral = false;
      ++p_;
      if (!(peek() >= '0' && peek() <= '9')) fail("digit expected after '.'");
      while (peek() >= '0' && peek() <= '9') ++p_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++p_;
      if (peek() == '+' || peek() == '-') ++p_;
      if (!(peek() >= '0' && peek() <= '9')) fail("digit expected in exponent");
      while (peek() >= '0' && peek() <= '9') ++p_;
    }
    std::string lit(start, p_); // bounded copy: strtod needs a terminator
    v.type = Type::Number;
    if (!to_double(lit, &v.number) || !std::isfinite(v.number)) fail("number out of range: " + lit);
    if (integral) {
      int64_t i = 0;
      auto r = std::from_chars(lit.data(), lit.data() + lit.size(), i);
      if (r.ec == std::errc() && r.ptr == lit.data() + lit.size()) {
        v.is_integer = true;
        v.integer = i;
      }
    }
  }

  // Locale-independent string -> double (from_chars where the library has it).
  static bool to_double(const std::string& lit, double* out) {
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
    auto r = std::from_chars(lit.data(), lit.data() + lit.size(), *out);
    if (r.ec == std::errc::result_out_of_range) return false;
    return r.ec == std::errc() && r.ptr == lit.data() + lit.size();
#else
    char* end = nullptr;
    errno = 0;
    *out = std::strtod(lit.c_str(), &end);
    return end == lit.c_str() + lit.size();
#endif
  }
};

} // namespace

Value parse(const char* data, size_t size, const std::string& file, const std::string& code) {
  Parser p(data, size, file, code);
  return p.parse_document();
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

} // namespace json
} // namespace peft
