#include "core/lockout.hpp"

#include <gtest/gtest.h>

namespace lockout = expense_ops::core::lockout;
using expense_ops::core::Instant;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {
const Instant kStart = Instant(std::chrono::microseconds(1'795'710'343'000'000LL));

lockout::State fail_times(lockout::State state, int times, Instant at) {
  for (int i = 0; i < times; ++i) {
    state = lockout::after_failure(state, at);
  }
  return state;
}
}  // namespace

TEST(Lockout, FourFailuresDoNotLockTheFifthDoes) {
  auto state = fail_times({}, 4, kStart);
  EXPECT_FALSE(lockout::is_locked(state, kStart));
  state = lockout::after_failure(state, kStart + minutes(14));
  EXPECT_TRUE(lockout::is_locked(state, kStart + minutes(14)));
  EXPECT_TRUE(lockout::is_locked(state, kStart + minutes(14) + seconds(59)));
  EXPECT_FALSE(lockout::is_locked(state, kStart + minutes(15)));
}

TEST(Lockout, FailuresOutsideTheWindowStartAfresh) {
  auto state = fail_times({}, 4, kStart);
  state = lockout::after_failure(state, kStart + minutes(15));
  EXPECT_FALSE(lockout::is_locked(state, kStart + minutes(15)));
  EXPECT_EQ(state.failures, 1);
}

TEST(Lockout, LocksDoubleAndAreCappedAtAnHour) {
  EXPECT_EQ(lockout::lock_duration(1), minutes(1));
  EXPECT_EQ(lockout::lock_duration(2), minutes(2));
  EXPECT_EQ(lockout::lock_duration(3), minutes(4));
  EXPECT_EQ(lockout::lock_duration(6), minutes(32));
  EXPECT_EQ(lockout::lock_duration(7), minutes(60));
  EXPECT_EQ(lockout::lock_duration(40), minutes(60));

  lockout::State state;
  Instant now = kStart;
  for (int lock = 1; lock <= 3; ++lock) {
    state = fail_times(state, 5, now);
    ASSERT_TRUE(state.locked_until);
    EXPECT_EQ(*state.locked_until - now, lockout::lock_duration(lock));
    now = *state.locked_until;
  }
}

TEST(Lockout, AttemptsWhileLockedDoNotExtendTheLock) {
  auto state = fail_times({}, 5, kStart);
  const auto until = *state.locked_until;
  state = fail_times(state, 10, kStart + seconds(30));
  EXPECT_EQ(*state.locked_until, until);
  EXPECT_EQ(state.locks, 1);
}

TEST(Lockout, SuccessForgetsEverything) {
  auto state = fail_times({}, 5, kStart);
  state = lockout::after_success();
  EXPECT_EQ(state.locks, 0);
  EXPECT_EQ(state.failures, 0);
  state = fail_times(state, 5, kStart + minutes(2));
  EXPECT_EQ(*state.locked_until - (kStart + minutes(2)), minutes(1));
}
