#include "core/prioritisation.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <limits>
#include <string>
#include <utility>

#include "caught.hpp"

namespace core = expense_ops::core;
using expense_ops::test::caught;

namespace {

core::FeatureInputs middling() {
  return {3, 3, 3, 3, 3};
}

}  // namespace

TEST(Prioritisation, ScoreBounds) {
  EXPECT_DOUBLE_EQ(core::prioritisation_score({1, 1, 5, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(core::prioritisation_score({5, 5, 1, 5, 5}), 100.0);
  EXPECT_DOUBLE_EQ(core::prioritisation_score(middling()), 50.0);
  const core::ScoreWeights odd{1.0, 7.0, 0.5, 3.0, 0.0};
  EXPECT_DOUBLE_EQ(core::prioritisation_score({1, 1, 5, 1, 1}, odd), 0.0);
  EXPECT_DOUBLE_EQ(core::prioritisation_score({5, 5, 1, 5, 5}, odd), 100.0);
  // Every combination stays within [0, 100].
  for (int a = 1; a <= 5; ++a) {
    for (int b = 1; b <= 5; ++b) {
      for (int c = 1; c <= 5; ++c) {
        const double score = core::prioritisation_score({a, b, c, b, a}, odd);
        EXPECT_GE(score, 0.0);
        EXPECT_LE(score, 100.0);
      }
    }
  }
}

TEST(Prioritisation, ScoreFollowsTheDocumentedFormula) {
  // n = 1, 0.75, (5-2)/4 = 0.75, 0.5, 0 -> 0.30 + 0.1875 + 0.1125 + 0.05 + 0 = 0.65.
  EXPECT_NEAR(core::prioritisation_score({5, 4, 2, 3, 1}), 65.0, 1e-9);
  // Only impact weighted: the score is impact's normalised value.
  EXPECT_NEAR(core::prioritisation_score({4, 1, 5, 1, 1}, {1.0, 0.0, 0.0, 0.0, 0.0}), 75.0, 1e-9);
  // Only complexity weighted: it counts inversely.
  EXPECT_NEAR(core::prioritisation_score({1, 1, 2, 1, 1}, {0.0, 0.0, 2.0, 0.0, 0.0}), 75.0, 1e-9);
  // Only resources weighted: it counts directly.
  EXPECT_NEAR(core::prioritisation_score({1, 1, 5, 2, 1}, {0.0, 0.0, 0.0, 5.0, 0.0}), 25.0, 1e-9);
  // Scaling every weight changes nothing.
  EXPECT_NEAR(core::prioritisation_score({5, 4, 2, 3, 1}, {3.0, 2.5, 1.5, 1.0, 2.0}), 65.0, 1e-9);
}

TEST(Prioritisation, ScoreIsMonotonicInEachInput) {
  using Field = int core::FeatureInputs::*;
  const std::pair<Field, int> fields[] = {
      {&core::FeatureInputs::user_impact, +1},
      {&core::FeatureInputs::business_value, +1},
      {&core::FeatureInputs::technical_complexity, -1},  // harder scores lower
      {&core::FeatureInputs::resource_availability, +1},
      {&core::FeatureInputs::strategic_alignment, +1},
  };
  for (const auto& [field, direction] : fields) {
    core::FeatureInputs inputs = middling();
    inputs.*field = 1;
    double previous = core::prioritisation_score(inputs);
    for (int value = 2; value <= 5; ++value) {
      inputs.*field = value;
      const double score = core::prioritisation_score(inputs);
      if (direction > 0) {
        EXPECT_GT(score, previous) << value;
      } else {
        EXPECT_LT(score, previous) << value;
      }
      previous = score;
    }
  }
}

TEST(Prioritisation, InputsOutsideOneToFiveNameTheField) {
  const char* names[] = {"user_impact", "business_value", "technical_complexity",
                         "resource_availability", "strategic_alignment"};
  int core::FeatureInputs::*fields[] = {
      &core::FeatureInputs::user_impact, &core::FeatureInputs::business_value,
      &core::FeatureInputs::technical_complexity, &core::FeatureInputs::resource_availability,
      &core::FeatureInputs::strategic_alignment};
  for (int i = 0; i < 5; ++i) {
    for (const int bad : {0, 6, -1, 100}) {
      core::FeatureInputs inputs = middling();
      inputs.*fields[i] = bad;
      const auto violation = caught([&] { core::prioritisation_score(inputs); });
      EXPECT_EQ(violation.sqlstate(), "22X55");
      EXPECT_EQ(
          std::string(violation.what()),
          std::string(names[i]) + ": must be an integer from 1 to 5, got " + std::to_string(bad));
    }
  }
  const auto complexity = caught([] { core::prioritisation_score({3, 3, 0, 3, 3}); });
  EXPECT_EQ(complexity.hint(), "Rate technical_complexity from 1 (simplest) to 5 (hardest).");
  // Default-constructed inputs are unrated, not silently the worst.
  EXPECT_STREQ(caught([] { core::prioritisation_score({}); }).what(),
               "user_impact: must be an integer from 1 to 5, got 0");
}

TEST(Prioritisation, WeightsMustBeFiniteNonNegativeAndNotAllZero) {
  const auto negative = caught([] {
    core::prioritisation_score(middling(), {0.3, 0.25, -0.15, 0.1, 0.2});
  });
  EXPECT_EQ(negative.sqlstate(), "22X55");
  EXPECT_STREQ(negative.what(),
               "weights.technical_complexity: must be a finite number >= 0, got -0.15");

  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const auto not_a_number = caught([&] {
    core::prioritisation_score(middling(), {0.3, nan, 0.15, 0.1, 0.2});
  });
  EXPECT_EQ(not_a_number.sqlstate(), "22X55");
  EXPECT_STREQ(not_a_number.what(),
               "weights.business_value: must be a finite number >= 0, got nan");
  EXPECT_EQ(caught([&] {
              core::prioritisation_score(middling(), {0.3, 0.25, 0.15, inf, 0.2});
            }).sqlstate(),
            "22X55");

  const auto zeros = caught([] { core::prioritisation_score(middling(), {0, 0, 0, 0, 0}); });
  EXPECT_EQ(zeros.sqlstate(), "22X55");
  EXPECT_STREQ(zeros.what(), "weights: at least one weight must be above 0");

  const auto overflow = caught([] {
    core::prioritisation_score(middling(), {DBL_MAX, DBL_MAX, 0, 0, 0});
  });
  EXPECT_EQ(overflow.sqlstate(), "22X55");
  EXPECT_STREQ(overflow.what(), "weights: their sum must be finite, got inf");

  // Zero is allowed for some of them: that criterion is ignored.
  EXPECT_DOUBLE_EQ(core::prioritisation_score({5, 1, 5, 1, 1}, {1, 0, 0, 0, 0}), 100.0);
}

TEST(Prioritisation, CustomWeightsChangeTheRanking) {
  const core::FeatureInputs crowd_pleaser{5, 4, 3, 3, 1};  // users want it, off strategy
  const core::FeatureInputs strategic{2, 3, 3, 3, 5};      // few users, core to the strategy
  // Defaults: 0.30*1 + 0.25*0.75 + 0.15*0.5 + 0.10*0.5 + 0 = 0.6125 vs
  //           0.30*0.25 + 0.25*0.5 + 0.075 + 0.05 + 0.20*1 = 0.525.
  EXPECT_NEAR(core::prioritisation_score(crowd_pleaser), 61.25, 1e-9);
  EXPECT_NEAR(core::prioritisation_score(strategic), 52.5, 1e-9);

  const core::ScoreWeights strategy_first{0.10, 0.10, 0.10, 0.10, 0.60};
  // 0.1 + 0.075 + 0.05 + 0.05 + 0 = 0.275 vs 0.025 + 0.05 + 0.05 + 0.05 + 0.6 = 0.775.
  EXPECT_NEAR(core::prioritisation_score(crowd_pleaser, strategy_first), 27.5, 1e-9);
  EXPECT_NEAR(core::prioritisation_score(strategic, strategy_first), 77.5, 1e-9);

  // Simpler beats harder under a complexity-heavy weighting, not under the defaults.
  const core::FeatureInputs big_bet{5, 5, 5, 3, 3};
  const core::FeatureInputs quick_win{3, 3, 1, 3, 3};
  EXPECT_GT(core::prioritisation_score(big_bet), core::prioritisation_score(quick_win));
  const core::ScoreWeights simplicity_first{0.1, 0.1, 0.7, 0.05, 0.05};
  EXPECT_LT(core::prioritisation_score(big_bet, simplicity_first),
            core::prioritisation_score(quick_win, simplicity_first));
}
