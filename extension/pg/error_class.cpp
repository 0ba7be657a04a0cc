// The error categories at the SQL boundary (extension/core/error_class.*).
#include "core/error_class.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

// ops.classify_error(sqlstate text, http_status integer) RETURNS text: never NULL.
EXPENSE_OPS_FUNCTION(expense_ops_classify_error) {
  const std::optional<std::string> sqlstate = pg::optional_text_argument(fcinfo, 0);
  const std::optional<std::int32_t> status = pg::optional_int32_argument(fcinfo, 1);
  const core::ErrorCategory category =
      core::classify_error(sqlstate ? std::optional<std::string_view>(*sqlstate) : std::nullopt,
                           status ? std::optional<int>(*status) : std::nullopt);
  return pg::text_datum(std::string(core::to_string(category)));
}
