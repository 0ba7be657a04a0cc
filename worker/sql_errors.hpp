// Turning libpqxx's exceptions into log fields.
#pragma once

#include <pqxx/except>
#include <string>
#include <string_view>

#include "core/json.hpp"

namespace expense_ops::worker {

// libpq error texts span lines; a log line must not.
std::string one_line(std::string text);

// The first line of a libpq error, without its severity ("ERROR:  "): the server's primary
// message. The rest (DETAIL, HINT, CONTEXT, QUERY, LINE n) can carry whole SQL statements,
// kilobytes of them for an error inside a PL/pgSQL function, repeated on every run of a job.
std::string primary_message(std::string_view libpq_error);

// An SQL error as a job's log line carries it: the primary message, secrets redacted.
std::string sql_error_for_log(std::string_view libpq_error);

// A connection error as connect_failed carries it: every line (with several hosts, libpq
// explains each one's failure on a line of its own) joined into one, secrets redacted.
std::string connection_error_for_log(std::string_view libpq_error);

// The fields of a job's failure line: the SQL function the job calls, the SQLSTATE (when there is
// one) and the primary message. Never the statement: the function names what failed.
core::json::Object job_failure_fields(std::string_view function, std::string_view sqlstate,
                                      std::string_view libpq_error);

// The SQLSTATE of a failed statement, or "" when there is none (a client-side failure).
// libpqxx 6.4 throws a few classes without it: insufficient_privilege (42501), and the
// transaction rollbacks (40000, 40001, 40003, 40P01), which there are not even sql_errors.
// For those it is recovered from the class, so that every failure logs its SQLSTATE.
std::string sqlstate_of(const pqxx::failure& error);

// What a failed statement means for the session it ran on.
enum class SessionFailure {
  kStatementOnly,  // the statement failed; the session carries on
  kConnectionLost,
  kReadOnly,  // the server refuses writes: it is (or has become) a standby
};

// SQLSTATE classes 08 (connection exception) and 57 (operator intervention, such as a server
// shutdown) mean the session is gone even when libpq still reports the socket open. 25006
// (read_only_sql_transaction) means the server was demoted under the worker, or the worker was
// pointed at a read-only one; every write would fail the same way until it reconnects.
SessionFailure classify_failure(std::string_view sqlstate, bool connection_open);

}  // namespace expense_ops::worker
