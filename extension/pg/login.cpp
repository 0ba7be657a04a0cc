// The login decision at the SQL boundary (extension/core/login): api.login and
// api.change_password gather the account row and the address's recent failures, and this
// function decides, does the password work, and says what to store.
#include <string>

#include "core/error.hpp"
#include "core/login.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

// iam.decide_login(password text, account_found boolean, password_hash text, disabled boolean,
//     failures integer, window_start timestamptz, locks integer, locked_until timestamptz,
//     address_failures bigint, address_failure_limit integer, at timestamptz,
//     OUT reason text, OUT failures integer, OUT window_start timestamptz, OUT locks integer,
//     OUT locked_until timestamptz, OUT new_password_hash text)
EXPENSE_OPS_FUNCTION(expense_ops_decide_login) {
  using namespace expense_ops;
  namespace login = core::login;
  const std::string password = pg::optional_text_argument(fcinfo, 0).value_or("");
  const bool account_found = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
  const auto password_hash = pg::optional_text_argument(fcinfo, 2);
  const auto at = pg::optional_timestamptz_argument(fcinfo, 10);
  if (!at) {
    throw core::RuleViolation(core::sqlstate::kNullValueNotAllowed, "at must not be null",
                              "Pass the time of the attempt.");
  }

  login::Attempt attempt;
  attempt.password = password;
  attempt.recent_failures_from_address = PG_ARGISNULL(8) ? 0 : PG_GETARG_INT64(8);
  if (account_found) {
    login::Account account;
    if (password_hash) {
      account.password_hash = *password_hash;
    }
    account.disabled = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
    account.lockout.failures = pg::optional_int32_argument(fcinfo, 4).value_or(0);
    account.lockout.window_start = pg::optional_timestamptz_argument(fcinfo, 5);
    account.lockout.locks = pg::optional_int32_argument(fcinfo, 6).value_or(0);
    account.lockout.locked_until = pg::optional_timestamptz_argument(fcinfo, 7);
    attempt.account = account;
  }
  login::Policy policy;
  if (const auto limit = pg::optional_int32_argument(fcinfo, 9)) {
    policy.address_failure_limit = *limit;
  }

  const login::Decision decision = login::decide(attempt, *at, policy);

  const std::string reason(login::to_string(decision.reason));
  const auto& next = decision.lockout;
  Datum values[6] = {
      pg::text_datum(reason),
      Int32GetDatum(next.failures),
      next.window_start ? TimestampTzGetDatum(pg::to_timestamptz(*next.window_start)) : 0,
      Int32GetDatum(next.locks),
      next.locked_until ? TimestampTzGetDatum(pg::to_timestamptz(*next.locked_until)) : 0,
      decision.new_password_hash ? pg::text_datum(*decision.new_password_hash) : 0};
  bool nulls[6] = {
      false, false, !next.window_start, false, !next.locked_until, !decision.new_password_hash};
  return pg::guarded([&] {
    TupleDesc descriptor;
    if (get_call_result_type(fcinfo, nullptr, &descriptor) != TYPEFUNC_COMPOSITE) {
      elog(ERROR, "iam.decide_login must be declared with OUT parameters");
    }
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(descriptor), values, nulls));
  });
}
