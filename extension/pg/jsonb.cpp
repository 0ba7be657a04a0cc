#include "pg/jsonb.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "pg/boundary.hpp"

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

}  // namespace expense_ops::pg
