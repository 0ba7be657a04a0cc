#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

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

}  // namespace expense_ops::worker
