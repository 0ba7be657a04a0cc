// A small JSON document model. Core logic builds reports as json::Value; the extension turns
// them into jsonb (extension/pg/jsonb.cpp) and the worker writes them as text (dump).
// Only output lives here: nothing in this project parses JSON by hand.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace expense_ops::core::json {

class Value;
using Array = std::vector<Value>;
// Members keep their insertion order, so documents read the way they were written.
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;

class Value {
 public:
  using Storage =
      std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object>;

  Value() : storage_(nullptr) {}
  Value(std::nullptr_t) : storage_(nullptr) {}
  Value(bool b) : storage_(b) {}
  Value(int i) : storage_(static_cast<std::int64_t>(i)) {}
  Value(long i) : storage_(static_cast<std::int64_t>(i)) {}
  Value(long long i) : storage_(static_cast<std::int64_t>(i)) {}
  Value(double d) : storage_(d) {}
  Value(const char* s) : storage_(std::string(s)) {}
  Value(std::string_view s) : storage_(std::string(s)) {}
  Value(std::string s) : storage_(std::move(s)) {}
  Value(Array a) : storage_(std::move(a)) {}
  Value(Object o) : storage_(std::move(o)) {}
  template <typename T>
  Value(const std::optional<T>& maybe) : Value(maybe ? Value(*maybe) : Value()) {}

  const Storage& storage() const noexcept { return storage_; }

  bool is_null() const noexcept { return std::holds_alternative<std::nullptr_t>(storage_); }
  // Looks up a member of an object; nullptr when this is not an object or has no such key.
  const Value* find(std::string_view key) const;

 private:
  Storage storage_;
};

// Compact JSON text. Non-finite doubles, which JSON cannot express, are written as null.
std::string dump(const Value& value);
// Appends `text` as a quoted, escaped JSON string.
void append_quoted(std::string& out, std::string_view text);
// Shortest text that reads back as the same double.
std::string format_number(double number);

}  // namespace expense_ops::core::json
