#include "pg/datum.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"

namespace expense_ops::pg {

void require_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  if (PG_ARGISNULL(index)) {
    throw core::RuleViolation(core::sqlstate::kNullValueNotAllowed,
                              std::string(name) + " must not be null",
                              std::string("Pass a value for ") + name + ".");
  }
}

std::string text_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  const Datum argument = PG_GETARG_DATUM(index);
  const char* copy =
      guarded([&] { return static_cast<const char*>(TextDatumGetCString(argument)); });
  return copy;
}

std::optional<std::string> optional_text_argument(FunctionCallInfo fcinfo, int index) {
  if (PG_ARGISNULL(index)) {
    return std::nullopt;
  }
  const Datum argument = PG_GETARG_DATUM(index);
  const char* copy =
      guarded([&] { return static_cast<const char*>(TextDatumGetCString(argument)); });
  return std::string(copy);
}

std::string bytea_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  const Datum argument = PG_GETARG_DATUM(index);
  const bytea* value =
      guarded([&] { return static_cast<const bytea*>(DatumGetByteaPP(argument)); });
  return std::string(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
}

std::string jsonb_argument_text(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  const Datum argument = PG_GETARG_DATUM(index);
  const char* text = guarded([&] {
    Jsonb* document = DatumGetJsonbP(argument);
    return static_cast<const char*>(JsonbToCString(nullptr, &document->root, VARSIZE(document)));
  });
  return text;
}

std::int32_t int32_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  return PG_GETARG_INT32(index);
}

std::optional<core::Instant> optional_timestamptz_argument(FunctionCallInfo fcinfo, int index) {
  if (PG_ARGISNULL(index)) {
    return std::nullopt;
  }
  return to_instant(PG_GETARG_TIMESTAMPTZ(index));
}

core::Instant timestamptz_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  return to_instant(PG_GETARG_TIMESTAMPTZ(index));
}

bool bool_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  return PG_GETARG_BOOL(index);
}

std::optional<std::int32_t> optional_int32_argument(FunctionCallInfo fcinfo, int index) {
  return PG_ARGISNULL(index) ? std::nullopt : std::optional<std::int32_t>(PG_GETARG_INT32(index));
}

std::optional<std::int64_t> optional_int64_argument(FunctionCallInfo fcinfo, int index) {
  return PG_ARGISNULL(index) ? std::nullopt : std::optional<std::int64_t>(PG_GETARG_INT64(index));
}

std::optional<bool> optional_bool_argument(FunctionCallInfo fcinfo, int index) {
  return PG_ARGISNULL(index) ? std::nullopt : std::optional<bool>(PG_GETARG_BOOL(index));
}

double float8_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  return PG_GETARG_FLOAT8(index);
}

Datum text_datum(const std::string& value) {
  return guarded([&] {
    return PointerGetDatum(cstring_to_text_with_len(value.data(), static_cast<int>(value.size())));
  });
}

Datum optional_timestamptz_datum(const std::optional<core::Instant>& instant) {
  return instant ? TimestampTzGetDatum(to_timestamptz(*instant)) : Datum(0);
}

Datum composite_datum(FunctionCallInfo fcinfo, const char* function, Datum* values, bool* nulls) {
  return guarded([&] {
    TupleDesc descriptor;
    if (get_call_result_type(fcinfo, nullptr, &descriptor) != TYPEFUNC_COMPOSITE) {
      elog(ERROR, "%s must be declared with OUT parameters", function);
    }
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(descriptor), values, nulls));
  });
}

Datum bytea_datum(const std::string& bytes) {
  return guarded([&] {
    bytea* result = static_cast<bytea*>(palloc(VARHDRSZ + bytes.size()));
    SET_VARSIZE(result, VARHDRSZ + bytes.size());
    memcpy(VARDATA(result), bytes.data(), bytes.size());
    return PointerGetDatum(result);
  });
}

Datum text_array_datum(const std::vector<std::string_view>& values) {
  const auto* data = values.data();
  const int count = static_cast<int>(values.size());
  return guarded([&] {
    Datum* elements = static_cast<Datum*>(palloc(sizeof(Datum) * (count > 0 ? count : 1)));
    for (int i = 0; i < count; ++i) {
      elements[i] = PointerGetDatum(
          cstring_to_text_with_len(data[i].data(), static_cast<int>(data[i].size())));
    }
    return PointerGetDatum(construct_array(elements, count, TEXTOID, -1, false, TYPALIGN_INT));
  });
}

}  // namespace expense_ops::pg
