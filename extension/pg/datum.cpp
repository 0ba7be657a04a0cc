#include "pg/datum.hpp"

#include <unordered_map>

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

Datum uuid_datum(const pg_uuid_t& uuid) {
  return guarded([&] {
    auto* copy = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t)));
    *copy = uuid;
    return UUIDPGetDatum(copy);
  });
}

std::string uuid_key(const pg_uuid_t& uuid) {
  return std::string(reinterpret_cast<const char*>(uuid.data), UUID_LEN);
}

std::string numeric_text(Datum numeric) {
  return guarded([&] {
    return static_cast<const char*>(DatumGetCString(DirectFunctionCall1(numeric_out, numeric)));
  });
}

Datum optional_timestamptz_datum(const std::optional<core::Instant>& instant) {
  return instant ? TimestampTzGetDatum(to_timestamptz(*instant)) : Datum(0);
}

Datum interval_datum(std::chrono::microseconds duration) {
  return guarded([&] {
    auto* span = static_cast<Interval*>(palloc0(sizeof(Interval)));
    span->time = duration.count();
    return PointerGetDatum(span);
  });
}

namespace {

// Blessed result descriptors by function OID. The functions that return rows are called per row
// (a trigger's decision) or per statement (the policies' caller), and get_call_result_type reads
// the OUT parameters from pg_proc on every call. Any change to pg_proc drops them all.
std::unordered_map<Oid, TupleDesc> result_descriptors;
bool result_callback_registered = false;

// Runs inside PostgreSQL's invalidation processing: it may only forget things.
void forget_result_descriptors(Datum, int, uint32) noexcept {
  for (const auto& entry : result_descriptors) {
    FreeTupleDesc(entry.second);  // the typcache keeps its own copy of a blessed descriptor
  }
  result_descriptors.clear();
}

}  // namespace

Datum composite_datum(FunctionCallInfo fcinfo, const char* function, Datum* values, bool* nulls) {
  if (!result_callback_registered) {
    guarded([] { CacheRegisterSyscacheCallback(PROCOID, forget_result_descriptors, 0); });
    result_callback_registered = true;
  }
  const Oid function_oid = fcinfo->flinfo->fn_oid;
  auto found = result_descriptors.find(function_oid);
  if (found == result_descriptors.end()) {
    const TupleDesc descriptor = guarded([&] {
      TupleDesc declared;
      if (get_call_result_type(fcinfo, nullptr, &declared) != TYPEFUNC_COMPOSITE) {
        elog(ERROR, "%s must be declared with OUT parameters", function);
      }
      const MemoryContext previous = MemoryContextSwitchTo(TopMemoryContext);
      const TupleDesc kept = BlessTupleDesc(CreateTupleDescCopy(declared));
      MemoryContextSwitchTo(previous);
      return kept;
    });
    found = result_descriptors.emplace(function_oid, descriptor).first;
  }
  const TupleDesc descriptor = found->second;
  return guarded([&] { return HeapTupleGetDatum(heap_form_tuple(descriptor, values, nulls)); });
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
