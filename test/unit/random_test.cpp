#include "core/random.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace core = expense_ops::core;

TEST(RandomBytes, GivesTheCountAskedForAndNeverRepeats) {
  EXPECT_EQ(core::random_bytes(32).size(), 32u);
  EXPECT_EQ(core::random_bytes(1).size(), 1u);
  EXPECT_NE(core::random_bytes(32), core::random_bytes(32));
}

TEST(RandomBytes, ARequestIsBetweenOneAndTheLimit) {
  EXPECT_EQ(core::requested_random_bytes(1).size(), 1u);
  EXPECT_EQ(core::requested_random_bytes(core::kMaxRequestedRandomBytes).size(), 1024u);
  for (const std::int64_t count :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1025}, std::int64_t{1} << 40}) {
    try {
      core::requested_random_bytes(count);
      ADD_FAILURE() << count << " bytes handed out";
    } catch (const expense_ops::core::RuleViolation& violation) {
      EXPECT_EQ(violation.sqlstate(), "22023") << count;
      EXPECT_NE(std::string(violation.what()).find("between 1 and 1024"), std::string::npos);
    }
  }
}
