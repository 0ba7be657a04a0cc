// Merchant names as duplicate detection compares them (extension/core/merchant).
#include "core/merchant.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

// expense.normalize_merchant(merchant text) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_normalize_merchant) {
  using namespace expense_ops;
  return pg::text_datum(core::normalize_merchant(pg::text_argument(fcinfo, 0, "merchant")));
}
