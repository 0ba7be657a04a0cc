// The rules for monitoring rows that arrive as text: requests from an access log line, a JSON
// batch or a COPY into the staging table, and the worker's check results. Each row is judged on
// its own, so that one bad row is reported with its reason and the rest of the batch is kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace expense_ops::core::ingest {

// One request as text; nullopt stands for a missing value (SQL NULL, an absent JSON key).
struct RequestText {
  std::optional<std::string_view> at;           // ISO 8601 with an offset or Z
  std::optional<std::string_view> method;       // GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS
  std::optional<std::string_view> route;        // starts with '/', at most 200 characters
  std::optional<std::string_view> status;       // an integer, 100-599
  std::optional<std::string_view> duration_ms;  // a finite decimal at or above 0
  std::optional<std::string_view> sqlstate;     // optional: five characters of 0-9, A-Z
  std::optional<std::string_view> org_id;       // optional: a UUID
  std::optional<std::string_view> user_id;      // optional: a UUID
};

// The instants a row may carry: not older than the log keeps, not later than clock skew allows.
struct AcceptedWindow {
  Instant earliest;
  Instant latest;
};

inline constexpr std::size_t kMaxRouteLength = 200;

// Why the row cannot be kept ("status: 700 is not an HTTP status (100-599)"), or nullopt when
// it can. Every value this accepts is one PostgreSQL's own input functions read the same way.
std::optional<std::string> request_problem(const RequestText& row, AcceptedWindow window);

// One request as ops.request_log stores it, for the table's CHECK: a row that arrives by COPY or
// INSERT straight into the log, without the functions above, is held to the same rules.
struct RequestValues {
  std::string_view method;
  std::string_view route;
  std::int64_t status;
  double duration_ms;
  std::optional<std::string_view> sqlstate;
};

// Whether request_problem() would accept the row; it allocates nothing, since it runs per row.
bool request_values_valid(const RequestValues& row) noexcept;

// One check result as text (extension/sql/monitoring.sql, ops.record_check_results).
struct CheckResultText {
  std::optional<std::string_view> check_id;     // required; whether it exists is SQL's to say
  std::optional<std::string_view> started_at;   // ISO 8601 with an offset or Z
  std::optional<std::string_view> duration_ms;  // a finite decimal at or above 0; may be missing
  std::optional<std::string_view> outcome;      // up, down or unknown
  std::optional<std::string_view> status;       // optional: an HTTP status, 100-599
  std::optional<std::string_view> detail;       // the short error; an unknown outcome's reason
};

// Why the check result cannot be kept, or nullopt when it can.
std::optional<std::string> check_result_problem(const CheckResultText& row, AcceptedWindow window);

// One entry of PostgreSQL's jsonlog (log_destination = 'jsonlog'), as text.
struct LogEntryText {
  std::optional<std::string_view> timestamp;  // "2026-12-01 10:00:00.123 UTC" or ISO 8601
  std::optional<std::string_view> severity;   // ERROR, FATAL or PANIC
  std::optional<std::string_view> sqlstate;   // state_code: five characters of 0-9, A-Z
  std::optional<std::string_view> message;    // required, not empty
};

// Why the jsonlog entry cannot be kept as an error, or nullopt when it can.
std::optional<std::string> log_entry_problem(const LogEntryText& entry, AcceptedWindow window);

// An ISO 8601 instant with a UTC offset or Z ("2026-12-01T10:00:00.25+01:00"), as nginx's
// $time_iso8601, JSON logs and PostgreSQL's to_json of a timestamptz write them (the offset
// with seconds too, as PostgreSQL writes a zone's local mean time, "+00:19:32"), or with " UTC",
// as PostgreSQL's jsonlog writes them when log_timezone is UTC; nullopt for anything else.
std::optional<Instant> parse_iso8601(std::string_view text);

}  // namespace expense_ops::core::ingest
