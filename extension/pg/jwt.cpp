// Token signing at the SQL boundary (extension/core/jwt signs): api.login issues the JWT that
// PostgREST verifies.
#include <string>

#include "core/jwt.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace pg = expense_ops::pg;
namespace jwt = expense_ops::core::jwt;

// iam.sign_token(claims jsonb, kid text, secret bytea) RETURNS text: an HS256 JWT.
EXPENSE_OPS_FUNCTION(expense_ops_sign_token) {
  const std::string claims = pg::jsonb_argument_text(fcinfo, 0, "claims");
  const jwt::Key key{pg::text_argument(fcinfo, 1, "kid"), pg::bytea_argument(fcinfo, 2, "secret")};
  return pg::text_datum(jwt::sign(claims, key));
}
