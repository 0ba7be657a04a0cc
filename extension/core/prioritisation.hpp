// Feature prioritisation: the score that orders feature requests (ops.feature_backlog).
//
// Five inputs, each an integer from 1 to 5: user impact (u), business value (v), technical
// complexity (c), resource availability (r) and strategic alignment (a). Each is normalised to
// [0, 1]; complexity counts inversely (a simpler feature scores higher), resource availability
// directly (more people free scores higher):
//
//   n_u = (u - 1) / 4     n_v = (v - 1) / 4     n_c = ((6 - c) - 1) / 4 = (5 - c) / 4
//   n_r = (r - 1) / 4     n_a = (a - 1) / 4
//
//   score = 100 * (w_u*n_u + w_v*n_v + w_c*n_c + w_r*n_r + w_a*n_a) / (w_u + w_v + w_c + w_r + w_a)
//
// The weights are finite numbers >= 0, not all zero; only their ratios matter. The defaults are
// w_u = 0.30, w_v = 0.25, w_c = 0.15, w_r = 0.10, w_a = 0.20. The score lies in [0, 100]: 0 for
// u = v = r = a = 1 with c = 5, 100 for u = v = r = a = 5 with c = 1. It is not rounded.
//
// Errors (RuleViolation): 22X55 a bad input or weight.
#pragma once

namespace expense_ops::core {

struct FeatureInputs {
  int user_impact = 0;            // 1..5, higher is more impact
  int business_value = 0;         // 1..5, higher is more value
  int technical_complexity = 0;   // 1..5, higher is harder: counts against the feature
  int resource_availability = 0;  // 1..5, higher means more people free to build it
  int strategic_alignment = 0;    // 1..5, higher fits the strategy better
};

struct ScoreWeights {
  double user_impact = 0.30;
  double business_value = 0.25;
  double technical_complexity = 0.15;
  double resource_availability = 0.10;
  double strategic_alignment = 0.20;
};

// The score in [0, 100] per the formula above, or 22X55 naming the first input outside 1..5 or
// the first weight that is negative or not finite, or saying that all weights are zero.
double prioritisation_score(const FeatureInputs& inputs, const ScoreWeights& weights = {});

}  // namespace expense_ops::core
