// Currencies and amounts at the SQL boundary. Money is stored as bigint minor units; the API
// shows it as numeric with exactly the currency's number of decimals.
#include "core/currency.hpp"
#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace {

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

core::Currency currency_argument(FunctionCallInfo fcinfo, int index) {
  return core::known_currency(pg::text_argument(fcinfo, index, "currency"));
}

}  // namespace

// expense.is_currency(code text) RETURNS boolean
EXPENSE_OPS_FUNCTION(expense_ops_is_currency) {
  PG_RETURN_BOOL(core::find_currency(pg::text_argument(fcinfo, 0, "code")).has_value());
}

// expense.to_minor_units(amount numeric, currency text) RETURNS bigint
EXPENSE_OPS_FUNCTION(expense_ops_to_minor_units) {
  if (PG_ARGISNULL(0)) {
    throw core::RuleViolation(core::sqlstate::kNullValueNotAllowed, "amount must not be null",
                              "Give the amount, such as 12.50.");
  }
  const core::Currency currency = currency_argument(fcinfo, 1);
  PG_RETURN_INT64(core::parse_amount(pg::numeric_text(PG_GETARG_DATUM(0)), currency.code));
}

// expense.to_amount(minor_units bigint, currency text) RETURNS numeric, with the exact scale.
EXPENSE_OPS_FUNCTION(expense_ops_to_amount) {
  if (PG_ARGISNULL(0)) {
    PG_RETURN_NULL();
  }
  const std::int64_t minor_units = PG_GETARG_INT64(0);
  const core::Currency currency = currency_argument(fcinfo, 1);
  const std::string text = core::format_amount(minor_units, currency.exponent);
  return pg::guarded([&] {
    return DirectFunctionCall3(numeric_in, CStringGetDatum(text.c_str()),
                               ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
  });
}

// expense.currency_table_edition() RETURNS text: which ISO 4217 list the table follows.
EXPENSE_OPS_FUNCTION(expense_ops_currency_table_edition) {
  (void)fcinfo;
  return pg::text_datum(std::string(core::kCurrencyTableEdition));
}
