// The login decision at the SQL boundary (extension/core/login): api.login and
// api.change_password gather the account row and the address's recent failures, and this
// function decides, does the password work, and says what to store.
#include <string>

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
  const bool account_found = pg::optional_bool_argument(fcinfo, 1).value_or(false);
  const auto password_hash = pg::optional_text_argument(fcinfo, 2);
  const core::Instant at = pg::timestamptz_argument(fcinfo, 10, "at");

  login::Attempt attempt;
  attempt.password = password;
  attempt.recent_failures_from_address = pg::optional_int64_argument(fcinfo, 8).value_or(0);
  if (account_found) {
    login::Account account;
    if (password_hash) {
      account.password_hash = *password_hash;
    }
    account.disabled = pg::optional_bool_argument(fcinfo, 3).value_or(false);
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

  const login::Decision decision = login::decide(attempt, at, policy);

  const std::string reason(login::to_string(decision.reason));
  const auto& next = decision.lockout;
  Datum values[6] = {pg::text_datum(reason),
                     Int32GetDatum(next.failures),
                     pg::optional_timestamptz_datum(next.window_start),
                     Int32GetDatum(next.locks),
                     pg::optional_timestamptz_datum(next.locked_until),
                     decision.new_password_hash ? pg::text_datum(*decision.new_password_hash) : 0};
  bool nulls[6] = {
      false, false, !next.window_start, false, !next.locked_until, !decision.new_password_hash};
  return pg::composite_datum(fcinfo, "iam.decide_login", values, nulls);
}
