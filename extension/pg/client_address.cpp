// The address a login is throttled and recorded under (extension/core/client_address).
#include "core/client_address.hpp"

#include <string>

#include "pg/boundary.hpp"
#include "pg/datum.hpp"

// iam.resolve_client_address(forwarded_for text, connection_address text, trusted_proxies text)
//   RETURNS text: canonical, never NULL; 22023 for a trusted proxy that is not a network.
EXPENSE_OPS_FUNCTION(expense_ops_resolve_client_address) {
  using namespace expense_ops;
  const auto forwarded_for = pg::optional_text_argument(fcinfo, 0);
  const auto connection_address = pg::optional_text_argument(fcinfo, 1);
  const std::string trusted = pg::optional_text_argument(fcinfo, 2).value_or("");
  std::optional<std::string_view> forwarded_view, connection_view;
  if (forwarded_for) {
    forwarded_view = *forwarded_for;
  }
  if (connection_address) {
    connection_view = *connection_address;
  }
  return pg::text_datum(core::client_address::resolve(forwarded_view, connection_view, trusted));
}
