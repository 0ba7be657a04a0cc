// The account lockout rule at the SQL boundary (extension/core/lockout decides).
//
// iam.lockout_after_failure was dropped in 0.4.0, when the whole login decision moved to
// iam.decide_login (pg/login.cpp). The symbol stays because the update scripts from 0.1.0
// still create the function on the way there.
#include "core/lockout.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

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
