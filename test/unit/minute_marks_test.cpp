#include "core/minute_marks.hpp"

#include <gtest/gtest.h>

#include <limits>

using expense_ops::core::minute_of;
using expense_ops::core::TransactionMinuteMarks;

TEST(MinuteMarks, MinutesAreFlooredFromPostgresEpoch) {
  EXPECT_EQ(minute_of(0), 0);
  EXPECT_EQ(minute_of(59'999'999), 0);
  EXPECT_EQ(minute_of(60'000'000), 1);
  // Before 2000 the minute still starts at or before the instant.
  EXPECT_EQ(minute_of(-1), -1);
  EXPECT_EQ(minute_of(-60'000'000), -1);
  EXPECT_EQ(minute_of(-60'000'001), -2);
  // 2026-12-01 10:00:30 UTC is 848 829 630 s after 2000-01-01.
  EXPECT_EQ(minute_of(848'829'630'000'000), 848'829'630 / 60);
  EXPECT_EQ(minute_of(std::numeric_limits<std::int64_t>::min()), std::nullopt);
  EXPECT_EQ(minute_of(std::numeric_limits<std::int64_t>::max()), std::nullopt);
}

TEST(MinuteMarks, EachMinuteIsMarkedOncePerTransaction) {
  TransactionMinuteMarks marks;
  EXPECT_TRUE(marks.needs_mark(10));
  marks.marked(10, 1);
  EXPECT_FALSE(marks.needs_mark(10));
  EXPECT_TRUE(marks.needs_mark(11));
  marks.marked(11, 1);
  EXPECT_FALSE(marks.needs_mark(10));  // not only the last one
  EXPECT_FALSE(marks.needs_mark(11));
  EXPECT_EQ(marks.size(), 2u);
  marks.forget_all();
  EXPECT_TRUE(marks.needs_mark(10));
  EXPECT_TRUE(marks.needs_mark(11));
  EXPECT_EQ(marks.size(), 0u);
}

TEST(MinuteMarks, ARolledBackSubtransactionTakesItsMarksWithIt) {
  TransactionMinuteMarks marks;
  marks.marked(10, 1);
  marks.marked(20, 2);  // SAVEPOINT a
  marks.marked(30, 3);  // SAVEPOINT b, inside a
  EXPECT_FALSE(marks.needs_mark(30));
  marks.subtransaction_aborted(3);  // ROLLBACK TO b
  EXPECT_TRUE(marks.needs_mark(30));
  EXPECT_FALSE(marks.needs_mark(20));
  marks.subtransaction_aborted(2);  // ROLLBACK TO a
  EXPECT_TRUE(marks.needs_mark(20));
  EXPECT_FALSE(marks.needs_mark(10));
}

TEST(MinuteMarks, ACommittedSubtransactionHandsItsMarksToItsParent) {
  TransactionMinuteMarks marks;
  marks.marked(20, 3);                   // written in b, inside a (2), inside the top (1)
  marks.subtransaction_committed(3, 2);  // RELEASE b
  EXPECT_FALSE(marks.needs_mark(20));
  marks.subtransaction_aborted(3);  // a later b that rolls back does not take it
  EXPECT_FALSE(marks.needs_mark(20));
  marks.subtransaction_aborted(2);  // but a does
  EXPECT_TRUE(marks.needs_mark(20));
}

TEST(MinuteMarks, AMinuteMarkedOutsideSurvivesAnInnerRollback) {
  TransactionMinuteMarks marks;
  marks.marked(10, 1);
  // Inside subtransaction 2 the minute is already marked, so nothing is written or recorded.
  EXPECT_FALSE(marks.needs_mark(10));
  marks.subtransaction_aborted(2);
  EXPECT_FALSE(marks.needs_mark(10));
}
