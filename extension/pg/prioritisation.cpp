// The feature prioritisation score at the SQL boundary (extension/core/prioritisation scores):
// ops.feature_backlog orders feature requests by it.
#include "core/prioritisation.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

// ops.feature_score(user_impact, business_value, complexity, resource_availability,
//                   strategic_alignment, and their five weights) RETURNS numeric;
// NULL until every input is rated.
EXPENSE_OPS_FUNCTION(expense_ops_feature_score) {
  core::FeatureInputs inputs;
  int* const fields[] = {&inputs.user_impact, &inputs.business_value, &inputs.technical_complexity,
                         &inputs.resource_availability, &inputs.strategic_alignment};
  for (int index = 0; index < 5; ++index) {
    const auto rating = pg::optional_int32_argument(fcinfo, index);
    if (!rating) {
      PG_RETURN_NULL();
    }
    *fields[index] = *rating;
  }
  core::ScoreWeights weights;
  weights.user_impact = pg::float8_argument(fcinfo, 5, "user_impact_weight");
  weights.business_value = pg::float8_argument(fcinfo, 6, "business_value_weight");
  weights.technical_complexity = pg::float8_argument(fcinfo, 7, "complexity_weight");
  weights.resource_availability = pg::float8_argument(fcinfo, 8, "resource_availability_weight");
  weights.strategic_alignment = pg::float8_argument(fcinfo, 9, "strategic_alignment_weight");
  const double score = core::prioritisation_score(inputs, weights);
  return pg::guarded([&] {
    const Datum exact = DirectFunctionCall1(float8_numeric, Float8GetDatum(score));
    return DirectFunctionCall2(numeric_round, exact, Int32GetDatum(2));
  });
}
