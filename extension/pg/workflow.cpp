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

// expense.workflow_step(action, status, actor_role, actor_is_owner, actor_manages_owner,
//                       above_threshold, first_approval_given, actor_gave_first_approval, reason)
//   RETURNS text: the next status, or 'submitted+first_approval'.
EXPENSE_OPS_FUNCTION(expense_ops_workflow_step) {
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
  const auto step = core::workflow::decide(action, actor, expense, reason);
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
  const auto currency = core::find_currency(pg::text_argument(fcinfo, 1, "base_currency"));
  facts.base_exponent = currency ? currency->exponent : 2;
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
  const std::string code = pg::text_argument(fcinfo, 0, "currency");
  const auto currency = core::find_currency(code);
  if (!currency) {
    throw core::RuleViolation(core::sqlstate::kUnknownCurrency,
                              "currency \"" + code + "\" is not an ISO 4217 currency code");
  }
  PG_RETURN_INT32(currency->exponent);
}
