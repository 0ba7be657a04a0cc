// Random key material at the SQL boundary (extension/core/random): identity.sql's signing keys
// and invitation secrets.
#include <string>

#include "core/error.hpp"
#include "core/random.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

// iam.random_bytes(count integer) RETURNS bytea, from OpenSSL's generator.
EXPENSE_OPS_FUNCTION(expense_ops_random_bytes) {
  const std::int32_t count = pg::int32_argument(fcinfo, 0, "count");
  if (count < 1 || count > 1024) {
    throw core::RuleViolation(core::sqlstate::kInvalidParameterValue,
                              "count must be between 1 and 1024, got " + std::to_string(count));
  }
  return pg::bytea_datum(core::random_bytes(static_cast<std::size_t>(count)));
}
