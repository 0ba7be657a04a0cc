#include "core/random.hpp"

#include <gtest/gtest.h>

namespace core = expense_ops::core;

TEST(RandomBytes, GivesTheCountAskedForAndNeverRepeats) {
  EXPECT_EQ(core::random_bytes(32).size(), 32u);
  EXPECT_EQ(core::random_bytes(1).size(), 1u);
  EXPECT_NE(core::random_bytes(32), core::random_bytes(32));
}
