#include "worker/log.hpp"

#include <gtest/gtest.h>

using expense_ops::worker::log::format_fields;

TEST(WorkerLog, FieldsAreEscapedJson) {
  EXPECT_EQ(format_fields("connected", {{"attempt", 3}, {"user", "worker"}}),
            R"("event":"connected","attempt":3,"user":"worker")");
  EXPECT_EQ(format_fields("connect_failed", {{"error", "could not \"connect\"\nretrying"}}),
            R"("event":"connect_failed","error":"could not \"connect\"\nretrying")");
  EXPECT_EQ(format_fields("stopped", {}), R"("event":"stopped")");
}
