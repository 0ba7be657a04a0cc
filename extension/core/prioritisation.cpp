#include "core/prioritisation.hpp"

#include <cmath>
#include <sstream>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace expense_ops::core {

namespace {

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

double prioritisation_score(const FeatureInputs& inputs, const ScoreWeights& weights) {
  struct Criterion {
    std::string_view name;
    double weight;
    int value;
    bool inverse;
    std::string_view scale;  // what 1 and 5 mean, for the hint
  };
  const Criterion criteria[] = {
      {"user_impact", weights.user_impact, inputs.user_impact, false, "1 (few users) to 5 (most)"},
      {"business_value", weights.business_value, inputs.business_value, false,
       "1 (little) to 5 (most)"},
      {"technical_complexity", weights.technical_complexity, inputs.technical_complexity, true,
       "1 (simplest) to 5 (hardest)"},
      {"resource_availability", weights.resource_availability, inputs.resource_availability, false,
       "1 (nobody free) to 5 (plenty)"},
      {"strategic_alignment", weights.strategic_alignment, inputs.strategic_alignment, false,
       "1 (off strategy) to 5 (core)"},
  };

  for (const auto& c : criteria) {
    if (c.value < 1 || c.value > 5) {
      throw RuleViolation(
          sqlstate::kPrioritisationInput,
          std::string(c.name) + ": must be an integer from 1 to 5, got " + std::to_string(c.value),
          "Rate " + std::string(c.name) + " from " + std::string(c.scale) + ".");
    }
  }
  double total_weight = 0.0;
  for (const auto& c : criteria) {
    // NaN fails every comparison, so test for what is allowed rather than for what is not.
    if (!(std::isfinite(c.weight) && c.weight >= 0.0)) {
      throw RuleViolation(sqlstate::kPrioritisationInput,
                          "weights." + std::string(c.name) +
                              ": must be a finite number >= 0, got " + format_number(c.weight),
                          "Use 0 to ignore a criterion; only the ratios between weights matter.");
    }
    total_weight += c.weight;
  }
  if (!(total_weight > 0.0 && std::isfinite(total_weight))) {
    throw RuleViolation(
        sqlstate::kPrioritisationInput,
        total_weight > 0.0 ? "weights: their sum must be finite, got " + format_number(total_weight)
                           : std::string("weights: at least one weight must be above 0"),
        "Only the ratios between weights matter; the defaults are user_impact 0.30, "
        "business_value 0.25, technical_complexity 0.15, resource_availability 0.10, "
        "strategic_alignment 0.20.");
  }

  double weighted = 0.0;
  for (const auto& c : criteria) {
    const int points = c.inverse ? 6 - c.value : c.value;
    weighted += c.weight * ((points - 1) / 4.0);
  }
  return 100.0 * weighted / total_weight;
}

}  // namespace expense_ops::core
