// Random key material at the SQL boundary (extension/core/random): identity.sql's signing keys
// and invitation secrets.
#include <string>

#include "core/random.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

// iam.random_bytes(count integer) RETURNS bytea, from OpenSSL's generator.
EXPENSE_OPS_FUNCTION(expense_ops_random_bytes) {
  return pg::bytea_datum(core::requested_random_bytes(pg::int32_argument(fcinfo, 0, "count")));
}
