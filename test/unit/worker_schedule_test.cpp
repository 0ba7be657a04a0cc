#include "worker/schedule.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

using expense_ops::worker::Schedule;
using expense_ops::worker::Seconds;
using expense_ops::worker::SteadyClock;
using expense_ops::worker::SteadyTime;

namespace {

// An arbitrary steady instant, and instants relative to it in seconds: the schedule never reads
// the clock, so the tests choose every "now".
const SteadyTime kStart = SteadyTime() + std::chrono::hours(1000);

SteadyTime at(double seconds) {
  return kStart + std::chrono::duration_cast<SteadyClock::duration>(Seconds(seconds));
}

double seconds_after_start(SteadyTime instant) {
  return std::chrono::duration_cast<Seconds>(instant - kStart).count();
}

using Jobs = std::vector<Schedule::JobId>;

// The worker's own pair of jobs: the heartbeat every 10 s, the SLA refresh every 15 s.
struct WorkerSchedule : ::testing::Test {
  Schedule schedule;
  Schedule::JobId heartbeat = schedule.add(Seconds(10), kStart);
  Schedule::JobId sla_refresh = schedule.add(Seconds(15), kStart);

  // Runs whatever is due at `now`, each finishing `duration` seconds after the one before, as
  // the loop does. Returns what ran.
  Jobs tick(double now, double duration = 0) {
    Jobs ran = schedule.due(at(now));
    double clock = now;
    for (const Schedule::JobId job : ran) {
      clock += duration;
      schedule.completed(job, at(clock));
    }
    return ran;
  }
};

}  // namespace

TEST_F(WorkerSchedule, EveryJobIsDueAtTheStartHeartbeatFirst) {
  EXPECT_EQ(schedule.due(at(0)), (Jobs{heartbeat, sla_refresh}));
  EXPECT_EQ(schedule.due(at(-0.001)), Jobs{});
  EXPECT_EQ(schedule.next_wake(), at(0));
}

TEST_F(WorkerSchedule, EachJobKeepsItsOwnInterval) {
  // Waking only when told to, over a minute: heartbeats at 0, 10, ..., 60; refreshes at 0, 15,
  // 30, 45, 60.
  std::vector<double> heartbeats;
  std::vector<double> refreshes;
  for (SteadyTime now = at(0); now <= at(60); now = schedule.next_wake()) {
    for (const Schedule::JobId job : schedule.due(now)) {
      (job == heartbeat ? heartbeats : refreshes).push_back(seconds_after_start(now));
      schedule.completed(job, now);
    }
  }
  EXPECT_EQ(heartbeats, (std::vector<double>{0, 10, 20, 30, 40, 50, 60}));
  EXPECT_EQ(refreshes, (std::vector<double>{0, 15, 30, 45, 60}));
}

TEST_F(WorkerSchedule, TheWakeIsTheEarliestDueJob) {
  tick(0);
  EXPECT_EQ(schedule.next_due(heartbeat), at(10));
  EXPECT_EQ(schedule.next_due(sla_refresh), at(15));
  EXPECT_EQ(schedule.next_wake(), at(10));
  EXPECT_EQ(tick(10), Jobs{heartbeat});
  EXPECT_EQ(schedule.next_wake(), at(15));
  EXPECT_EQ(tick(15), Jobs{sla_refresh});
  EXPECT_EQ(schedule.next_wake(), at(20));
}

TEST_F(WorkerSchedule, WakingEarlyRunsNothing) {
  tick(0);
  // A sleep cut short (a signal other than the shutdown ones) finds nothing due yet.
  EXPECT_EQ(schedule.due(at(9.99)), Jobs{});
  EXPECT_EQ(schedule.next_wake(), at(10));
}

TEST_F(WorkerSchedule, TheTimeARunTakesDoesNotMakeItDrift) {
  tick(0, 0.4);  // the heartbeat ends at 0.4 s, the refresh at 0.8 s
  EXPECT_EQ(schedule.next_due(heartbeat), at(10));
  EXPECT_EQ(schedule.next_due(sla_refresh), at(15));
  tick(10.05, 0.4);  // woke a little late
  EXPECT_EQ(schedule.next_due(heartbeat), at(20));
}

TEST_F(WorkerSchedule, ASlowRefreshDelaysTheHeartbeatOnlyOnce) {
  // Both due at 0; the heartbeat runs first, then a refresh that takes 12 s, past the
  // heartbeat's next due instant.
  EXPECT_EQ(schedule.due(at(0)), (Jobs{heartbeat, sla_refresh}));
  schedule.completed(heartbeat, at(0.01));
  schedule.completed(sla_refresh, at(12));
  // The late heartbeat runs at once, and then returns to its cadence rather than drifting.
  EXPECT_EQ(schedule.next_wake(), at(10));
  EXPECT_EQ(tick(12), Jobs{heartbeat});
  EXPECT_EQ(schedule.next_due(heartbeat), at(20));
  EXPECT_EQ(schedule.next_due(sla_refresh), at(15));
}

TEST_F(WorkerSchedule, AClockLeapRunsEachJobOnceThenResumesTheCadence) {
  tick(0);
  // The steady clock leaps 1000 s (the process was stopped, or the host suspended): a hundred
  // heartbeats and sixty-six refreshes were missed. Each runs once, not once per missed slot...
  EXPECT_EQ(tick(1000), (Jobs{heartbeat, sla_refresh}));
  EXPECT_EQ(schedule.due(at(1000)), Jobs{});
  // ...and the next runs are one interval later: no bunching, and no stall either.
  EXPECT_EQ(schedule.next_due(heartbeat), at(1010));
  EXPECT_EQ(schedule.next_due(sla_refresh), at(1015));
  EXPECT_EQ(tick(1010), Jobs{heartbeat});
  EXPECT_EQ(tick(1015), Jobs{sla_refresh});
  EXPECT_EQ(schedule.next_wake(), at(1020));
}

TEST_F(WorkerSchedule, ARunLongerThanItsIntervalLeavesAFullIntervalBeforeTheNext) {
  tick(0);
  tick(10);
  ASSERT_EQ(tick(15), Jobs{sla_refresh});
  tick(20);
  // This refresh takes 40 s; the slots at 30 and 45 are dropped, not run back to back.
  ASSERT_EQ(schedule.due(at(30)), (Jobs{heartbeat, sla_refresh}));
  EXPECT_EQ(schedule.completed(heartbeat, at(30)), 0u);
  // Due at 30, finished at 70: the slots at 45 and 60 passed meanwhile, and are counted.
  EXPECT_EQ(schedule.completed(sla_refresh, at(70)), 2u);
  EXPECT_EQ(schedule.next_due(sla_refresh), at(85));
  EXPECT_EQ(schedule.next_due(heartbeat), at(40));
  EXPECT_EQ(tick(70), Jobs{heartbeat});
  EXPECT_EQ(schedule.next_due(heartbeat), at(80));
}

TEST_F(WorkerSchedule, ARunEndingExactlyOnItsNextSlotIsNotRepeatedAtOnce) {
  tick(0);
  schedule.completed(heartbeat, at(10));  // a 10 s heartbeat, finished on its next slot
  EXPECT_EQ(schedule.next_due(heartbeat), at(20));
}

TEST_F(WorkerSchedule, AReconnectionMakesEveryJobDueAtOnce) {
  tick(0);
  tick(10);
  // The connection dropped at 12 and came back at 23.5: beat and refresh straight away.
  schedule.make_all_due(at(23.5));
  EXPECT_EQ(schedule.due(at(23.5)), (Jobs{heartbeat, sla_refresh}));
  tick(23.5);
  EXPECT_EQ(schedule.next_due(heartbeat), at(33.5));
  EXPECT_EQ(schedule.next_due(sla_refresh), at(38.5));
}

TEST(Schedule, ANonPositiveIntervalIsRefused) {
  Schedule schedule;
  EXPECT_THROW(schedule.add(Seconds(0), kStart), std::invalid_argument);
  EXPECT_THROW(schedule.next_wake(), std::logic_error);
}

TEST(Schedule, SubSecondIntervals) {
  Schedule schedule;
  const Schedule::JobId fast = schedule.add(Seconds(0.1), kStart);
  schedule.completed(fast, at(0));
  EXPECT_EQ(schedule.next_wake(), at(0.1));
}
