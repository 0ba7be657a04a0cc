#include "core/json.hpp"

#include <charconv>
#include <cmath>
#include <type_traits>

namespace expense_ops::core::json {

const Value* Value::find(std::string_view key) const {
  const auto* object = std::get_if<Object>(&storage_);
  if (object == nullptr) {
    return nullptr;
  }
  for (const auto& [name, member] : *object) {
    if (name == key) {
      return &member;
    }
  }
  return nullptr;
}

void append_quoted(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out.push_back(kHex[(c >> 4) & 0xF]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string format_number(double number) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, number);
  return error == std::errc{} ? std::string(buffer, end) : std::string("null");
}

namespace {

void append_value(std::string& out, const Value& value) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          out += "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out += std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out += std::isfinite(v) ? format_number(v) : "null";
        } else if constexpr (std::is_same_v<T, std::string>) {
          append_quoted(out, v);
        } else if constexpr (std::is_same_v<T, Array>) {
          out.push_back('[');
          for (std::size_t i = 0; i < v.size(); ++i) {
            if (i > 0) {
              out.push_back(',');
            }
            append_value(out, v[i]);
          }
          out.push_back(']');
        } else {
          out.push_back('{');
          for (std::size_t i = 0; i < v.size(); ++i) {
            if (i > 0) {
              out.push_back(',');
            }
            append_quoted(out, v[i].first);
            out.push_back(':');
            append_value(out, v[i].second);
          }
          out.push_back('}');
        }
      },
      value.storage());
}

}  // namespace

std::string dump(const Value& value) {
  std::string out;
  append_value(out, value);
  return out;
}

}  // namespace expense_ops::core::json
