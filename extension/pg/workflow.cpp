// The workflow's decisions at the SQL boundary. The api.*_expense functions (migrations/) gather
// the facts and apply the step; what is allowed is decided here, by extension/core.
#include "core/currency.hpp"
#include "core/error.hpp"
#include "core/expense_rules.hpp"
#include "core/workflow.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace {

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

}  // namespace

namespace {

core::workflow::Step decide_step(FunctionCallInfo fcinfo) {
  const auto action = core::workflow::parse_action(pg::text_argument(fcinfo, 0, "action"));
  core::workflow::ExpenseState expense;
  expense.status = pg::text_argument(fcinfo, 1, "status");
  core::workflow::Actor actor;
  actor.role = pg::optional_text_argument(fcinfo, 2).value_or("");
  actor.is_owner = pg::bool_argument(fcinfo, 3, "actor_is_owner");
  actor.manages_owner = pg::bool_argument(fcinfo, 4, "actor_manages_owner");
  expense.above_threshold = pg::bool_argument(fcinfo, 5, "above_threshold");
  expense.first_approval_given = pg::bool_argument(fcinfo, 6, "first_approval_given");
  expense.actor_gave_first_approval = pg::bool_argument(fcinfo, 7, "actor_gave_first_approval");
  const std::string reason = pg::optional_text_argument(fcinfo, 8).value_or("");
  return core::workflow::decide(action, actor, expense, reason);
}

}  // namespace

// expense.workflow_step(action, status, actor_role, actor_is_owner, actor_manages_owner,
//                       above_threshold, first_approval_given, actor_gave_first_approval, reason,
//                       OUT next_status text, OUT records_first_approval boolean)
EXPENSE_OPS_FUNCTION(expense_ops_workflow_decision) {
  const auto step = decide_step(fcinfo);
  Datum values[2] = {pg::text_datum(step.next_status), BoolGetDatum(step.records_first_approval)};
  bool nulls[2] = {false, false};
  return pg::composite_datum(fcinfo, "expense.workflow_step", values, nulls);
}

// The same decision as text, for the SQL of 0.4.0 and before ("submitted+first_approval" for a
// first approval): between installing this library and ALTER EXTENSION UPDATE, that SQL calls
// this symbol.
EXPENSE_OPS_FUNCTION(expense_ops_workflow_step) {
  const auto step = decide_step(fcinfo);
  return pg::text_datum(step.records_first_approval ? step.next_status + "+first_approval"
                                                    : step.next_status);
}

// expense.check_submission(base_amount, base_currency, has_receipt, receipt_threshold,
//                          per_item_limit, same_day_total, per_day_limit) RETURNS void
EXPENSE_OPS_FUNCTION(expense_ops_check_submission) {
  core::expenses::SubmissionFacts facts;
  const auto base_amount = pg::optional_int64_argument(fcinfo, 0);
  if (!base_amount) {
    throw core::RuleViolation(core::sqlstate::kNullValueNotAllowed, "base_amount must not be null");
  }
  facts.base_amount = *base_amount;
  facts.base_exponent =
      core::known_currency(pg::text_argument(fcinfo, 1, "base_currency")).exponent;
  facts.has_receipt = pg::bool_argument(fcinfo, 2, "has_receipt");
  facts.receipt_threshold = pg::optional_int64_argument(fcinfo, 3).value_or(0);
  facts.per_item_limit = pg::optional_int64_argument(fcinfo, 4);
  facts.same_day_total = pg::optional_int64_argument(fcinfo, 5).value_or(0);
  facts.per_day_limit = pg::optional_int64_argument(fcinfo, 6);
  core::expenses::check_submission(facts);
  PG_RETURN_VOID();
}

// expense.currency_exponent(currency text) RETURNS integer
EXPENSE_OPS_FUNCTION(expense_ops_currency_exponent) {
  PG_RETURN_INT32(core::known_currency(pg::text_argument(fcinfo, 0, "currency")).exponent);
}

// expense.to_base_amount(amount_minor bigint, currency text, rate numeric, base_currency text)
//   RETURNS bigint: the amount at the rate, in minor units of the base currency.
EXPENSE_OPS_FUNCTION(expense_ops_to_base_amount) {
  const auto amount_minor = pg::optional_int64_argument(fcinfo, 0);
  pg::require_argument(fcinfo, 2, "rate");
  if (!amount_minor) {
    throw core::RuleViolation(core::sqlstate::kNullValueNotAllowed,
                              "amount_minor must not be null");
  }
  PG_RETURN_INT64(core::convert_amount(*amount_minor, pg::text_argument(fcinfo, 1, "currency"),
                                       pg::numeric_text(PG_GETARG_DATUM(2)),
                                       pg::text_argument(fcinfo, 3, "base_currency")));
}
