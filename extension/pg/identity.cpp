// The identity primitives behind api.login: password hashing and checking, token signing,
// random key material and the account lockout rule. The flow itself is PL/pgSQL
// (migrations/), which reads and writes the rows; every decision is made in extension/core.
#include <string>

#include "core/error.hpp"
#include "core/jwt.hpp"
#include "core/lockout.hpp"
#include "core/password.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace {

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

const char* verdict_name(core::password::Verdict verdict) {
  switch (verdict) {
    case core::password::Verdict::kMatch:
      return "match";
    case core::password::Verdict::kMatchButRehash:
      return "rehash";
    case core::password::Verdict::kMismatch:
      return "mismatch";
  }
  return "mismatch";
}

}  // namespace

// iam.hash_password(password text) RETURNS text: an argon2id PHC string, OWASP parameters.
EXPENSE_OPS_FUNCTION(expense_ops_hash_password) {
  const std::string password = pg::text_argument(fcinfo, 0, "password");
  core::password::check_new_password(password);
  return pg::text_datum(core::password::hash(password));
}

// iam.rehash_password(password text) RETURNS text: a current argon2id hash of a password that
// just matched its old hash. No new-password rule applies: the user chose it long ago.
EXPENSE_OPS_FUNCTION(expense_ops_rehash_password) {
  return pg::text_datum(core::password::hash(pg::text_argument(fcinfo, 0, "password")));
}

// iam.verify_password(password text, stored text) RETURNS text: match, rehash or mismatch.
EXPENSE_OPS_FUNCTION(expense_ops_verify_password) {
  const std::string password = pg::text_argument(fcinfo, 0, "password");
  const std::string stored = pg::text_argument(fcinfo, 1, "stored hash");
  return pg::text_datum(verdict_name(core::password::verify(password, stored)));
}

// iam.spend_password_verification(password text) RETURNS void: the cost of a check, no answer.
EXPENSE_OPS_FUNCTION(expense_ops_spend_password_verification) {
  const auto password = pg::optional_text_argument(fcinfo, 0);
  core::password::spend_a_verification(password.value_or(""));
  PG_RETURN_VOID();
}

// iam.sign_token(claims jsonb, kid text, secret bytea) RETURNS text: an HS256 JWT.
EXPENSE_OPS_FUNCTION(expense_ops_sign_token) {
  const std::string claims = pg::jsonb_argument_text(fcinfo, 0, "claims");
  const core::jwt::Key key{pg::text_argument(fcinfo, 1, "kid"),
                           pg::bytea_argument(fcinfo, 2, "secret")};
  return pg::text_datum(core::jwt::sign(claims, key));
}

// iam.random_bytes(count integer) RETURNS bytea, from OpenSSL's generator.
EXPENSE_OPS_FUNCTION(expense_ops_random_bytes) {
  const std::int32_t count = pg::int32_argument(fcinfo, 0, "count");
  if (count < 1 || count > 1024) {
    throw core::RuleViolation(core::sqlstate::kInvalidParameterValue,
                              "count must be between 1 and 1024, got " + std::to_string(count));
  }
  return pg::bytea_datum(core::jwt::random_bytes(static_cast<std::size_t>(count)));
}

// iam.lockout_after_failure(failures int, window_start timestamptz, locks int,
//     locked_until timestamptz, at timestamptz,
//     OUT failures int, OUT window_start timestamptz, OUT locks int, OUT locked_until timestamptz)
EXPENSE_OPS_FUNCTION(expense_ops_lockout_after_failure) {
  core::lockout::State state;
  state.failures = pg::int32_argument(fcinfo, 0, "failures");
  state.window_start = pg::optional_timestamptz_argument(fcinfo, 1);
  state.locks = pg::int32_argument(fcinfo, 2, "locks");
  state.locked_until = pg::optional_timestamptz_argument(fcinfo, 3);
  const core::lockout::State next =
      core::lockout::after_failure(state, pg::timestamptz_argument(fcinfo, 4, "at"));

  Datum values[4] = {Int32GetDatum(next.failures),
                     pg::optional_timestamptz_datum(next.window_start), Int32GetDatum(next.locks),
                     pg::optional_timestamptz_datum(next.locked_until)};
  bool nulls[4] = {false, !next.window_start, false, !next.locked_until};
  return pg::composite_datum(fcinfo, "iam.lockout_after_failure", values, nulls);
}
