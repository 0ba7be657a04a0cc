// The monitoring ingestion rules at the SQL boundary (extension/core/ingest.*): a row of text in,
// the reason it cannot be kept (or NULL) out. SQL casts only the rows these accept.
#include <array>

#include "core/ingest.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

namespace {

// The text arguments first..first+N-1, each nullopt when NULL; kept alive for the string_views.
template <std::size_t N>
std::array<std::optional<std::string>, N> text_arguments(FunctionCallInfo fcinfo) {
  std::array<std::optional<std::string>, N> texts;
  for (std::size_t i = 0; i < N; ++i) {
    texts[i] = pg::optional_text_argument(fcinfo, static_cast<int>(i));
  }
  return texts;
}

std::optional<std::string_view> view(const std::optional<std::string>& text) {
  return text ? std::optional<std::string_view>(*text) : std::nullopt;
}

core::ingest::AcceptedWindow window_arguments(FunctionCallInfo fcinfo, int first) {
  return {pg::timestamptz_argument(fcinfo, first, "earliest"),
          pg::timestamptz_argument(fcinfo, first + 1, "latest")};
}

Datum optional_text(FunctionCallInfo fcinfo, const std::optional<std::string>& text) {
  if (!text) {
    PG_RETURN_NULL();
  }
  return pg::text_datum(*text);
}

}  // namespace

// ops.request_problem(at, method, route, status, duration_ms, sqlstate, org_id, user_id text,
//                     earliest, latest timestamptz) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_request_problem) {
  const auto texts = text_arguments<8>(fcinfo);
  core::ingest::RequestText row;
  row.at = view(texts[0]);
  row.method = view(texts[1]);
  row.route = view(texts[2]);
  row.status = view(texts[3]);
  row.duration_ms = view(texts[4]);
  row.sqlstate = view(texts[5]);
  row.org_id = view(texts[6]);
  row.user_id = view(texts[7]);
  return optional_text(fcinfo, core::ingest::request_problem(row, window_arguments(fcinfo, 8)));
}

// ops.check_result_problem(check_id, started_at, duration_ms, outcome, status, detail text,
//                          earliest, latest timestamptz) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_check_result_problem) {
  const auto texts = text_arguments<6>(fcinfo);
  core::ingest::CheckResultText row;
  row.check_id = view(texts[0]);
  row.started_at = view(texts[1]);
  row.duration_ms = view(texts[2]);
  row.outcome = view(texts[3]);
  row.status = view(texts[4]);
  row.detail = view(texts[5]);
  return optional_text(fcinfo,
                       core::ingest::check_result_problem(row, window_arguments(fcinfo, 6)));
}

// ops.log_entry_problem(logged_at, severity, sqlstate, message text, earliest, latest timestamptz)
// RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_log_entry_problem) {
  const auto texts = text_arguments<4>(fcinfo);
  core::ingest::LogEntryText entry;
  entry.timestamp = view(texts[0]);
  entry.severity = view(texts[1]);
  entry.sqlstate = view(texts[2]);
  entry.message = view(texts[3]);
  return optional_text(fcinfo, core::ingest::log_entry_problem(entry, window_arguments(fcinfo, 4)));
}

namespace {

// A text argument read in place: a short or plain varlena needs no copy. One that is compressed
// or a pointer to a value stored elsewhere (an INSERT ... SELECT from a toasted table passes
// those) is detoasted, which may raise, into the function's memory context.
std::string_view text_in_place(FunctionCallInfo fcinfo, int argument) {
  Datum value = PG_GETARG_DATUM(argument);
  const struct varlena* text = reinterpret_cast<const struct varlena*>(DatumGetPointer(value));
  if (VARATT_IS_EXTERNAL(text) || VARATT_IS_COMPRESSED(text)) {
    text = pg::guarded([text] {
      return static_cast<const struct varlena*>(
          pg_detoast_datum_packed(const_cast<struct varlena*>(text)));
    });
  }
  return {VARDATA_ANY(text), VARSIZE_ANY_EXHDR(text)};
}

}  // namespace

// ops.request_is_valid(method, route text, status integer, duration_ms double precision,
//                      sqlstate text) RETURNS boolean: ops.request_log's CHECK, once per row.
EXPENSE_OPS_FUNCTION(expense_ops_request_is_valid) {
  for (int required = 0; required < 4; ++required) {
    if (PG_ARGISNULL(required)) {
      PG_RETURN_BOOL(false);
    }
  }
  core::ingest::RequestValues row{text_in_place(fcinfo, 0), text_in_place(fcinfo, 1),
                                  PG_GETARG_INT32(2), PG_GETARG_FLOAT8(3), std::nullopt};
  if (!PG_ARGISNULL(4)) {
    row.sqlstate = text_in_place(fcinfo, 4);
  }
  PG_RETURN_BOOL(core::ingest::request_values_valid(row));
}
