#include "core/error.hpp"

namespace expense_ops::core {

std::optional<ErrorCode> find_error_by_name(std::string_view name) {
  for (const auto& error : kErrorCatalog) {
    if (error.name == name) {
      return error;
    }
  }
  return std::nullopt;
}

std::optional<ErrorCode> find_error_by_sqlstate(std::string_view sqlstate) {
  for (const auto& error : kErrorCatalog) {
    if (error.sqlstate == sqlstate) {
      return error;
    }
  }
  return std::nullopt;
}

std::string error_table_markdown() {
  std::string table = "| SQLSTATE | HTTP | name | meaning |\n|---|---|---|---|\n";
  for (const auto& error : kErrorCatalog) {
    table += "| " + std::string(error.sqlstate) + " | " + std::to_string(error.http_status) +
             " | `" + std::string(error.name) + "` | " + std::string(error.meaning) + " |\n";
  }
  return table;
}

}  // namespace expense_ops::core
