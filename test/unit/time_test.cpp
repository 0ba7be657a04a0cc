#include "core/time.hpp"

#include <gtest/gtest.h>

using expense_ops::core::format_iso8601;
using expense_ops::core::Instant;
using expense_ops::core::seconds_between;
using std::chrono::microseconds;

TEST(Time, FormatsUtcWithMicroseconds) {
  EXPECT_EQ(format_iso8601(Instant(microseconds(0))), "1970-01-01T00:00:00.000000Z");
  // 2026-11-26T16:25:43.123456Z
  EXPECT_EQ(format_iso8601(Instant(microseconds(1795710343123456LL))),
            "2026-11-26T16:25:43.123456Z");
  // Leap day.
  EXPECT_EQ(format_iso8601(Instant(microseconds(951782400000000LL))),
            "2000-02-29T00:00:00.000000Z");
}

TEST(Time, FormatsInstantsBeforeTheEpoch) {
  EXPECT_EQ(format_iso8601(Instant(microseconds(-1))), "1969-12-31T23:59:59.999999Z");
}

TEST(Time, MeasuresSecondsBetweenInstants) {
  const Instant a(microseconds(1'000'000));
  const Instant b(microseconds(3'500'000));
  EXPECT_DOUBLE_EQ(seconds_between(a, b), 2.5);
  EXPECT_DOUBLE_EQ(seconds_between(b, a), -2.5);
}
