#include "pg/jsonb.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace expense_ops::pg {

namespace {

using core::json::Array;
using core::json::Object;
using core::json::Value;

JsonbValue string_value(const std::string& text) {
  JsonbValue value{};
  value.type = jbvString;
  // Borrowed: the Value tree outlives the conversion.
  value.val.string.val = const_cast<char*>(text.data());
  value.val.string.len = static_cast<int>(text.size());
  return value;
}

JsonbValue numeric_value(Numeric number) {
  JsonbValue value{};
  value.type = jbvNumeric;
  value.val.numeric = number;
  return value;
}

// jsonb keeps object keys sorted by length, then bytewise; lookups binary-search on that.
bool jsonb_key_less(const JsonbPair& a, const JsonbPair& b) {
  const auto& x = a.key.val.string;
  const auto& y = b.key.val.string;
  if (x.len != y.len) {
    return x.len < y.len;
  }
  return std::memcmp(x.val, y.val, static_cast<std::size_t>(x.len)) < 0;
}

bool jsonb_key_equal(const JsonbPair& a, const JsonbPair& b) {
  return a.key.val.string.len == b.key.val.string.len &&
         std::memcmp(a.key.val.string.val, b.key.val.string.val,
                     static_cast<std::size_t>(a.key.val.string.len)) == 0;
}

// Lays a Value out as an in-memory JsonbValue tree, which JsonbValueToJsonb serialises in one
// pass. Containers are C++ storage that lives as long as the builder; only numerics are
// palloc'd, in the caller's memory context.
class TreeBuilder {
 public:
  JsonbValue build(const Value& value) {
    if (const auto* object = std::get_if<Object>(&value.storage())) {
      return build_object(*object);
    }
    if (const auto* array = std::get_if<Array>(&value.storage())) {
      return build_array(*array);
    }
    return build_scalar(value);
  }

 private:
  JsonbValue build_object(const Object& object) {
    // A deque keeps earlier elements in place while nested containers are appended.
    std::vector<JsonbPair>& pairs = objects_.emplace_back();
    pairs.reserve(object.size());
    for (const auto& [key, member] : object) {
      JsonbPair pair{};
      pair.key = string_value(key);
      pair.value = build(member);
      pair.order = static_cast<uint32>(pairs.size());
      pairs.push_back(pair);
    }
    std::sort(pairs.begin(), pairs.end(), jsonb_key_less);
    if (std::adjacent_find(pairs.begin(), pairs.end(), jsonb_key_equal) != pairs.end()) {
      throw std::logic_error("a JSON document built by expense_ops repeats an object key");
    }
    JsonbValue value{};
    value.type = jbvObject;
    value.val.object.nPairs = static_cast<int>(pairs.size());
    value.val.object.pairs = pairs.data();
    return value;
  }

  JsonbValue build_array(const Array& array) {
    std::vector<JsonbValue>& elements = arrays_.emplace_back();
    elements.reserve(array.size());
    for (const auto& element : array) {
      elements.push_back(build(element));
    }
    JsonbValue value{};
    value.type = jbvArray;
    value.val.array.nElems = static_cast<int>(elements.size());
    value.val.array.elems = elements.data();
    value.val.array.rawScalar = false;
    return value;
  }

  static JsonbValue build_scalar(const Value& scalar) {
    return std::visit(
        [](const auto& v) -> JsonbValue {
          using T = std::decay_t<decltype(v)>;
          JsonbValue value{};
          if constexpr (std::is_same_v<T, bool>) {
            value.type = jbvBool;
            value.val.boolean = v;
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            value = numeric_value(guarded([&] { return int64_to_numeric(v); }));
          } else if constexpr (std::is_same_v<T, double>) {
            if (!std::isfinite(v)) {
              value.type = jbvNull;  // jsonb, like JSON, has no NaN or infinity
            } else {
              // Shortest round-trip text, then numeric_in: exact, and no printf on the way.
              const std::string text = core::json::format_number(v);
              value = numeric_value(guarded([&] {
                return DatumGetNumeric(
                    DirectFunctionCall3(numeric_in, CStringGetDatum(text.c_str()),
                                        ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
              }));
            }
          } else if constexpr (std::is_same_v<T, std::string>) {
            value = string_value(v);
          } else {
            value.type = jbvNull;  // std::nullptr_t; containers never reach here
          }
          return value;
        },
        scalar.storage());
  }

  std::deque<std::vector<JsonbPair>> objects_;
  std::deque<std::vector<JsonbValue>> arrays_;
};

}  // namespace

Datum to_jsonb(const Value& value) {
  TreeBuilder builder;
  JsonbValue root = builder.build(value);
  return guarded([&] { return JsonbPGetDatum(JsonbValueToJsonb(&root)); });
}

namespace {

// One step of a jsonb iterator, copied into plain data: a container's start or end, a key, or
// a scalar. Strings point into the detoasted document, numbers into numeric_out's text; both
// are palloc'd in the caller's memory context and live as long as the call.
struct Token {
  JsonbIteratorToken kind;
  jbvType type;  // for WJB_KEY, WJB_VALUE, WJB_ELEM
  const char* text;
  int length;
  bool boolean;
  bool raw_scalar;  // for WJB_BEGIN_ARRAY: the pseudo-array around a scalar document
};

struct Tokens {
  Token* items;
  int count;
};

Tokens read_tokens(Datum document) {
  return guarded([&] {
    Jsonb* jsonb = DatumGetJsonbP(document);
    Tokens tokens{};
    int capacity = 16;
    tokens.items = static_cast<Token*>(palloc(sizeof(Token) * capacity));
    JsonbIterator* iterator = JsonbIteratorInit(&jsonb->root);
    JsonbValue value;
    JsonbIteratorToken kind;
    while ((kind = JsonbIteratorNext(&iterator, &value, false)) != WJB_DONE) {
      if (tokens.count == capacity) {
        capacity *= 2;
        tokens.items = static_cast<Token*>(repalloc(tokens.items, sizeof(Token) * capacity));
      }
      Token& token = tokens.items[tokens.count++];
      token = Token{kind, jbvNull, nullptr, 0, false, false};
      if (kind == WJB_BEGIN_ARRAY) {
        token.raw_scalar = value.val.array.rawScalar;
      } else if (kind == WJB_KEY || kind == WJB_VALUE || kind == WJB_ELEM) {
        token.type = value.type;
        if (value.type == jbvString) {
          token.text = value.val.string.val;
          token.length = value.val.string.len;
        } else if (value.type == jbvNumeric) {
          token.text =
              DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(value.val.numeric)));
          token.length = static_cast<int>(strlen(token.text));
        } else if (value.type == jbvBool) {
          token.boolean = value.val.boolean;
        }
      }
    }
    return tokens;
  });
}

Value scalar_of(const Token& token) {
  switch (token.type) {
    case jbvString:
      return std::string(token.text, static_cast<std::size_t>(token.length));
    case jbvBool:
      return token.boolean;
    case jbvNumeric: {
      const char* first = token.text;
      const char* last = token.text + token.length;
      std::int64_t integer = 0;
      const auto [end, error] = std::from_chars(first, last, integer);
      if (error == std::errc() && end == last) {
        return static_cast<long long>(integer);
      }
      double number = 0;
      if (std::from_chars(first, last, number).ec == std::errc::result_out_of_range) {
        // numeric_out writes no exponent: the magnitude is below a double's ("0.000...1"), or
        // above it.
        const bool negative = *first == '-';
        const std::string_view text(first, static_cast<std::size_t>(last - first));
        const bool tiny = text.substr(negative ? 1 : 0, 2) == "0.";
        number = tiny ? 0.0 : std::numeric_limits<double>::infinity();
        number = negative ? -number : number;
      }
      return number;
    }
    default:
      return nullptr;
  }
}

// A container being read: its members so far, and the key whose value comes next.
struct Open {
  bool is_object;
  bool raw_scalar;
  Array array;
  Object object;
  std::string key;
};

}  // namespace

Value from_jsonb(Datum document) {
  const Tokens tokens = read_tokens(document);
  std::vector<Open> stack;
  Value root;
  const auto place = [&](Value value) {
    if (stack.empty()) {
      root = std::move(value);
    } else if (stack.back().is_object) {
      stack.back().object.emplace_back(std::move(stack.back().key), std::move(value));
    } else {
      stack.back().array.push_back(std::move(value));
    }
  };
  for (int i = 0; i < tokens.count; ++i) {
    const Token& token = tokens.items[i];
    switch (token.kind) {
      case WJB_BEGIN_ARRAY:
      case WJB_BEGIN_OBJECT:
        stack.push_back(Open{token.kind == WJB_BEGIN_OBJECT, token.raw_scalar, {}, {}, {}});
        break;
      case WJB_KEY:
        stack.back().key.assign(token.text, static_cast<std::size_t>(token.length));
        break;
      case WJB_VALUE:
      case WJB_ELEM:
        place(scalar_of(token));
        break;
      case WJB_END_ARRAY:
      case WJB_END_OBJECT: {
        Open done = std::move(stack.back());
        stack.pop_back();
        if (done.raw_scalar) {
          place(done.array.empty() ? Value() : std::move(done.array.front()));
        } else if (done.is_object) {
          place(std::move(done.object));
        } else {
          place(std::move(done.array));
        }
        break;
      }
      default:
        break;
    }
  }
  return root;
}

Value jsonb_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  return from_jsonb(PG_GETARG_DATUM(index));
}

}  // namespace expense_ops::pg
