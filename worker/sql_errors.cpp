#include "worker/sql_errors.hpp"

#include "worker/text.hpp"

#include "worker/redact.hpp"

namespace expense_ops::worker {

namespace {

constexpr std::string_view kReadOnlySqlTransaction = "25006";

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    }
  }
  return text;
}

std::string primary_message(std::string_view libpq_error) {
  std::string_view first_line = trimmed(libpq_error.substr(0, libpq_error.find('\n')));
  // The server's severities as libpq prints them; the log line has its own level and SQLSTATE.
  for (const std::string_view severity : {"ERROR:", "FATAL:", "PANIC:"}) {
    if (starts_with(first_line, severity)) {
      first_line = trimmed(first_line.substr(severity.size()));
      break;
    }
  }
  return one_line(std::string(first_line));
}

std::string sql_error_for_log(std::string_view libpq_error) {
  return primary_message(redact_secrets(libpq_error));
}

std::string connection_error_for_log(std::string_view libpq_error) {
  return one_line(redact_secrets(libpq_error));
}

core::json::Object job_failure_fields(std::string_view function, std::string_view sqlstate,
                                      std::string_view libpq_error) {
  core::json::Object fields{{"function", std::string(function)}};
  if (!sqlstate.empty()) {
    fields.emplace_back("sqlstate", std::string(sqlstate));
  }
  fields.emplace_back("error", sql_error_for_log(libpq_error));
  return fields;
}

std::string sqlstate_of(const pqxx::failure& error) {
  if (const auto* sql_error = dynamic_cast<const pqxx::sql_error*>(&error)) {
    if (!sql_error->sqlstate().empty()) {
      return sql_error->sqlstate();
    }
  }
  // Most derived first: the rollbacks share a base class.
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&error) != nullptr) {
    return "42501";
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&error) != nullptr) {
    return "40001";
  }
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&error) != nullptr) {
    return "40003";
  }
  if (dynamic_cast<const pqxx::deadlock_detected*>(&error) != nullptr) {
    return "40P01";
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&error) != nullptr) {
    return "40000";
  }
  return "";
}

SessionFailure classify_failure(std::string_view sqlstate, bool connection_open) {
  if (!connection_open || starts_with(sqlstate, "08") || starts_with(sqlstate, "57")) {
    return SessionFailure::kConnectionLost;
  }
  if (sqlstate == kReadOnlySqlTransaction) {
    return SessionFailure::kReadOnly;
  }
  return SessionFailure::kStatementOnly;
}

}  // namespace expense_ops::worker
