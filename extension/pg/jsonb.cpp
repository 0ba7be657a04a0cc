#include "pg/jsonb.hpp"

#include <cmath>
#include <type_traits>

#include "pg/boundary.hpp"

namespace expense_ops::pg {

namespace {

using core::json::Array;
using core::json::Object;
using core::json::Value;

JsonbValue* push(JsonbParseState** state, JsonbIteratorToken token, JsonbValue* value) {
  return guarded([&] { return pushJsonbValue(state, token, value); });
}

JsonbValue string_value(const std::string& text) {
  JsonbValue value{};
  value.type = jbvString;
  // pushJsonbValue keeps the pointer until the document is serialised; `text` outlives that.
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

// A scalar as a JsonbValue. Strings are borrowed from `scalar`, which must stay alive.
JsonbValue scalar_value(const Value& scalar) {
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
              return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text.c_str()),
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

JsonbValue* push_value(JsonbParseState** state, const Value& value, JsonbIteratorToken as) {
  if (const auto* object = std::get_if<Object>(&value.storage())) {
    push(state, WJB_BEGIN_OBJECT, nullptr);
    for (const auto& [key, member] : *object) {
      JsonbValue key_value = string_value(key);
      push(state, WJB_KEY, &key_value);
      push_value(state, member, WJB_VALUE);
    }
    return push(state, WJB_END_OBJECT, nullptr);
  }
  if (const auto* array = std::get_if<Array>(&value.storage())) {
    push(state, WJB_BEGIN_ARRAY, nullptr);
    for (const auto& element : *array) {
      push_value(state, element, WJB_ELEM);
    }
    return push(state, WJB_END_ARRAY, nullptr);
  }
  JsonbValue scalar = scalar_value(value);
  return push(state, as, &scalar);
}

}  // namespace

Datum to_jsonb(const Value& value) {
  JsonbParseState* state = nullptr;
  JsonbValue* root = nullptr;
  const auto& storage = value.storage();
  if (std::holds_alternative<Object>(storage) || std::holds_alternative<Array>(storage)) {
    root = push_value(&state, value, WJB_VALUE);
  } else {
    // jsonb stores a bare scalar as a one-element "raw scalar" array.
    JsonbValue wrapper{};
    wrapper.type = jbvArray;
    wrapper.val.array.rawScalar = true;
    wrapper.val.array.nElems = 1;
    push(&state, WJB_BEGIN_ARRAY, &wrapper);
    push_value(&state, value, WJB_ELEM);
    root = push(&state, WJB_END_ARRAY, nullptr);
  }
  return guarded([&] { return JsonbPGetDatum(JsonbValueToJsonb(root)); });
}

}  // namespace expense_ops::pg
