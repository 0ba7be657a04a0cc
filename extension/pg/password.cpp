// Password hashing and checking at the SQL boundary (extension/core/password decides), for
// identity.sql's invitations and password changes; api.login checks through pg/login.cpp.
#include <string>

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
// Dropped in 0.4.0 (iam.decide_login spends it now); the symbol stays because the update
// scripts from 0.1.0 still create the function on the way there.
EXPENSE_OPS_FUNCTION(expense_ops_spend_password_verification) {
  const auto password = pg::optional_text_argument(fcinfo, 0);
  core::password::spend_a_verification(password.value_or(""));
  PG_RETURN_VOID();
}
