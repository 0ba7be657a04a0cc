#include "worker/check_schedule.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

using expense_ops::worker::CheckScheduler;
using expense_ops::worker::missed_slots;
using expense_ops::worker::ScheduledCheck;
using expense_ops::worker::Seconds;
using expense_ops::worker::SteadyClock;
using expense_ops::worker::SteadyTime;
using expense_ops::worker::wall_clock_jumped;
using expense_ops::worker::WallClock;
using expense_ops::worker::WallTime;

namespace {

const SteadyTime kStart = SteadyTime() + std::chrono::hours(1000);
const WallTime kWall = WallClock::from_time_t(1'796'000'000);  // 2026-11-30T00:53:20Z

SteadyTime at(double seconds) {
  return kStart + std::chrono::duration_cast<SteadyClock::duration>(Seconds(seconds));
}
WallTime wall(double seconds) {
  return kWall + std::chrono::duration_cast<WallClock::duration>(Seconds(seconds));
}

using Ids = std::vector<std::string>;

// Runs what is due at each instant from `from` to `to` (step 0.1 s), each run lasting
// `duration`; returns the start instants of `id`.
std::vector<double> simulate(CheckScheduler& scheduler, const std::string& id, double from,
                             double to, double duration) {
  std::vector<double> starts;
  std::map<std::string, double> ends;
  for (long tick = std::lround(from * 10); tick <= std::lround(to * 10); ++tick) {
    const double now = static_cast<double>(tick) / 10;
    for (auto it = ends.begin(); it != ends.end();) {
      if (it->second <= now + 1e-9) {
        scheduler.finished(it->first, at(now));
        it = ends.erase(it);
      } else {
        ++it;
      }
    }
    for (const std::string& due : scheduler.due(at(now))) {
      scheduler.started(due);
      ends[due] = now + duration;
      if (due == id) {
        starts.push_back(now);
      }
    }
  }
  return starts;
}

}  // namespace

TEST(CheckSchedule, ChecksAreSpreadOverTheirFirstIntervalTheSameWayEachTime) {
  std::vector<ScheduledCheck> checks;
  for (int i = 0; i < 100; ++i) {
    checks.push_back({"check." + std::to_string(i), Seconds(30)});
  }
  CheckScheduler scheduler(Seconds(10));
  scheduler.reload(checks, at(0));
  EXPECT_TRUE(scheduler.due(at(0)).size() < 10) << "most wait for their offset";
  std::set<long> first_seconds;
  for (const auto& check : checks) {
    // Each is due once within its spread of 10 s, never later.
    CheckScheduler alone(Seconds(10));
    alone.reload({check}, at(0));
    const auto wake = alone.next_wake();
    ASSERT_TRUE(wake);
    const double offset = std::chrono::duration_cast<Seconds>(*wake - at(0)).count();
    EXPECT_GE(offset, 0);
    EXPECT_LT(offset, 10);
    first_seconds.insert(static_cast<long>(offset));
    CheckScheduler again(Seconds(10));
    again.reload({check}, at(0));
    EXPECT_EQ(again.next_wake(), wake) << "the offset is stable for an id";
  }
  EXPECT_GE(first_seconds.size(), 8u) << "spread over most of the 10 s";
  EXPECT_EQ(scheduler.due(at(10)).size(), 100u);
  // A check whose interval is shorter than the spread starts within its interval.
  CheckScheduler fast(Seconds(10));
  fast.reload({{"fast", Seconds(1)}}, at(0));
  EXPECT_LT(std::chrono::duration_cast<Seconds>(*fast.next_wake() - at(0)).count(), 1);
}

TEST(CheckSchedule, AChecksKeepsItsIntervalWhateverItsRunsTake) {
  CheckScheduler scheduler(Seconds(0));
  scheduler.reload({{"db", Seconds(5)}}, at(0));
  EXPECT_EQ(simulate(scheduler, "db", 0, 20, 0.3), (std::vector<double>{0, 5, 10, 15, 20}));
}

TEST(CheckSchedule, AnOverrunSkipsAndCountsInsteadOfQueueing) {
  CheckScheduler scheduler(Seconds(0));
  scheduler.reload({{"slow", Seconds(5)}}, at(0));
  ASSERT_EQ(scheduler.due(at(0)), Ids{"slow"});
  scheduler.started("slow");
  EXPECT_TRUE(scheduler.running("slow"));
  EXPECT_EQ(scheduler.due(at(7)), Ids{}) << "never twice at once";
  EXPECT_EQ(scheduler.next_wake(), std::nullopt) << "a running check wakes nobody";
  // It took 12 s: the slots at 5 and 10 passed meanwhile.
  EXPECT_EQ(scheduler.finished("slow", at(12)), 2u);
  EXPECT_EQ(scheduler.due(at(12)), Ids{}) << "not run back to back";
  EXPECT_EQ(scheduler.next_wake(), at(15)) << "the cadence goes on";
  scheduler.started("slow");
  EXPECT_EQ(scheduler.finished("slow", at(15.5)), 0u);
  EXPECT_EQ(scheduler.next_wake(), at(20));
}

TEST(CheckSchedule, ReloadingKeepsTheRhythmOfWhatDidNotChange) {
  CheckScheduler scheduler(Seconds(0));
  scheduler.reload({{"a", Seconds(10)}, {"b", Seconds(10)}}, at(0));
  for (const auto& id : scheduler.due(at(0))) {
    scheduler.started(id);
    scheduler.finished(id, at(0.1));
  }
  scheduler.started("a");  // a is running when the checks change
  scheduler.reload({{"a", Seconds(10)}, {"b", Seconds(30)}, {"c", Seconds(10)}}, at(4));
  EXPECT_TRUE(scheduler.running("a"));
  EXPECT_EQ(scheduler.due(at(4)), (Ids{"b", "c"})) << "changed and new start afresh";
  scheduler.finished("a", at(4.5));
  EXPECT_EQ(scheduler.next_wake(), at(4)) << "a keeps its cadence: 10";
  scheduler.reload({{"c", Seconds(10)}}, at(5));
  EXPECT_EQ(scheduler.size(), 1u);
  EXPECT_EQ(scheduler.finished("a", at(6)), 0u) << "a check removed while running just ends";
  EXPECT_EQ(scheduler.due(at(5)), Ids{"c"});
}

TEST(CheckSchedule, MissedSlotsAreTheWholeIntervalsWithoutAStart) {
  // Last started at 0, every 30 s, now 100 s: slots at 30 and 60 ended unstarted; the one at 90
  // is still open (a run may yet start in it).
  EXPECT_EQ(missed_slots(wall(0), Seconds(30), wall(100), 100),
            (std::vector<WallTime>{wall(30), wall(60)}));
  EXPECT_EQ(missed_slots(wall(0), Seconds(30), wall(59), 100), std::vector<WallTime>{});
  EXPECT_EQ(missed_slots(wall(0), Seconds(30), wall(60), 100), std::vector<WallTime>{wall(30)});
  // A day down with a 30 s check: only the latest `limit` slots.
  const auto day = missed_slots(wall(0), Seconds(30), wall(86400), 5);
  EXPECT_EQ(day, (std::vector<WallTime>{wall(86250), wall(86280), wall(86310), wall(86340),
                                        wall(86370)}));
  // Nothing for a clock that went back, or nonsense input.
  EXPECT_EQ(missed_slots(wall(100), Seconds(30), wall(0), 100), std::vector<WallTime>{});
  EXPECT_EQ(missed_slots(wall(0), Seconds(0), wall(100), 100), std::vector<WallTime>{});
  EXPECT_EQ(missed_slots(wall(0), Seconds(30), wall(100), 0), std::vector<WallTime>{});
}

TEST(CheckSchedule, AWallClockJumpIsTheClocksDisagreeing) {
  // Both advanced 10 s: no jump.
  EXPECT_FALSE(wall_clock_jumped(wall(0), at(0), wall(10), at(10), Seconds(2)));
  EXPECT_FALSE(wall_clock_jumped(wall(0), at(0), wall(11.5), at(10), Seconds(2)));
  // The wall clock stepped an hour forward (or the host slept an hour).
  EXPECT_TRUE(wall_clock_jumped(wall(0), at(0), wall(3610), at(10), Seconds(2)));
  // Or back.
  EXPECT_TRUE(wall_clock_jumped(wall(0), at(0), wall(-50), at(10), Seconds(2)));
}
