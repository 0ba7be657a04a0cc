// Currencies and amounts at the SQL boundary.
#include "core/currency.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

// expense.is_currency(code text) RETURNS boolean
EXPENSE_OPS_FUNCTION(expense_ops_is_currency) {
  const std::string code = expense_ops::pg::text_argument(fcinfo, 0, "code");
  PG_RETURN_BOOL(expense_ops::core::find_currency(code).has_value());
}
