// Datum <-> C++ conversions for function arguments and results. Each PostgreSQL call inside is
// guarded; a NULL where a value is required is the caller's mistake and is reported as such.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"
#include "pg/postgres_headers.hpp"

namespace expense_ops::pg {

// Argument `index` (0-based); throws RuleViolation 22004 (null_value_not_allowed) when NULL.
std::string text_argument(FunctionCallInfo fcinfo, int index, const char* name);
std::string bytea_argument(FunctionCallInfo fcinfo, int index, const char* name);
std::string jsonb_argument_text(FunctionCallInfo fcinfo, int index, const char* name);
std::int32_t int32_argument(FunctionCallInfo fcinfo, int index, const char* name);
bool bool_argument(FunctionCallInfo fcinfo, int index, const char* name);
core::Instant timestamptz_argument(FunctionCallInfo fcinfo, int index, const char* name);
double float8_argument(FunctionCallInfo fcinfo, int index, const char* name);
// The same check for readers of other types: throws RuleViolation 22004 when `index` is NULL.
void require_argument(FunctionCallInfo fcinfo, int index, const char* name);

// nullopt for SQL NULL.
std::optional<std::string> optional_text_argument(FunctionCallInfo fcinfo, int index);
std::optional<core::Instant> optional_timestamptz_argument(FunctionCallInfo fcinfo, int index);
std::optional<std::int32_t> optional_int32_argument(FunctionCallInfo fcinfo, int index);
std::optional<std::int64_t> optional_int64_argument(FunctionCallInfo fcinfo, int index);
std::optional<bool> optional_bool_argument(FunctionCallInfo fcinfo, int index);

Datum text_datum(const std::string& value);
// A uuid Datum of its own (palloc'd), not pointing into anyone's tuple.
Datum uuid_datum(const pg_uuid_t& uuid);
// A uuid's 16 bytes, as a key for C++ maps.
std::string uuid_key(const pg_uuid_t& uuid);
// A numeric as numeric_out writes it ("12.30"): exact, with its scale.
std::string numeric_text(Datum numeric);
Datum bytea_datum(const std::string& bytes);
// A one-dimensional text[] in the current memory context.
Datum text_array_datum(const std::vector<std::string_view>& values);
// A timestamptz Datum, or 0 for nullopt: pair it with `!instant` in the nulls array.
Datum optional_timestamptz_datum(const std::optional<core::Instant>& instant);
// An interval of exactly that many microseconds (no days or months), palloc'd.
Datum interval_datum(std::chrono::microseconds duration);
// The row a function with OUT parameters returns: `values` and `nulls` in the order of its OUT
// parameters. `function` names it in the error for a declaration without them. The result type
// is kept per function (OUT parameters of fixed types, never polymorphic) until pg_proc changes.
Datum composite_datum(FunctionCallInfo fcinfo, const char* function, Datum* values, bool* nulls);

// Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01. Inline: per-row paths
// such as the SLA clock convert several instants a row.
inline constexpr std::int64_t kPostgresEpochOffsetMicros =
    static_cast<std::int64_t>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

inline core::Instant to_instant(TimestampTz timestamp) {
  return core::Instant(std::chrono::microseconds(timestamp + kPostgresEpochOffsetMicros));
}

inline TimestampTz to_timestamptz(core::Instant instant) {
  return instant.time_since_epoch().count() - kPostgresEpochOffsetMicros;
}

}  // namespace expense_ops::pg
