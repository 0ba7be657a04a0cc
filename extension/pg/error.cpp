// The error catalog at the SQL boundary (extension/core/error): SQL raises by name, never by a
// SQLSTATE literal, so that every code the extension uses is written in one place.
#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

// expense.sqlstate(name text) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_sqlstate) {
  using namespace expense_ops;
  const std::string name = pg::text_argument(fcinfo, 0, "name");
  const auto error = core::find_error_by_name(name);
  if (!error) {
    throw core::RuleViolation(core::sqlstate::kInvalidParameterValue,
                              "name: \"" + name + "\" is not in the error catalog",
                              "The catalog is core/error.hpp; docs/errors.md lists its names.");
  }
  return pg::text_datum(std::string(error->sqlstate));
}
