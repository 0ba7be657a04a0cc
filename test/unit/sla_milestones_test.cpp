// The instants a ticket's clocks cross into at_risk and breached, computed once (what tickets
// store and readings use), and the crossings recorded from them.
#include <gtest/gtest.h>

#include <date/tz.h>

#include "core/error.hpp"
#include "core/sla_clock.hpp"

namespace {

namespace sla = expense_ops::core::sla;
using expense_ops::core::Instant;
using std::chrono::hours;
using std::chrono::minutes;

// Berlin office hours, Monday to Friday 09:00-17:00; 2024-06-03 is a Monday.
sla::BusinessCalendar office() {
  std::vector<sla::WorkingInterval> week;
  for (int weekday = 1; weekday <= 5; ++weekday) {
    week.push_back({weekday, 9 * 60, 17 * 60});
  }
  return sla::BusinessCalendar::make("Europe/Berlin", week);
}

Instant june(unsigned day, int hour, int minute = 0) {
  const auto wall = date::local_days{date::year{2024} / date::June / date::day{day}} + hours{hour} +
                    minutes{minute};
  return Instant{date::make_zoned("Europe/Berlin", wall).get_sys_time()};
}

TEST(SlaMilestones, AtRiskAtTheShareOfTheTargetAndDueAtTheTarget) {
  const auto m = sla::clock_milestones(office(), june(3, 9), hours{8}, std::nullopt, {}, 0.75);
  EXPECT_EQ(m.at_risk, june(3, 15));
  EXPECT_EQ(m.due, june(3, 17));
}

TEST(SlaMilestones, PausesMoveBothAndAnOpenPauseLeavesBothUnknown) {
  const std::vector<sla::Pause> lunch{{june(3, 12), june(3, 13)}};
  auto m = sla::clock_milestones(office(), june(3, 9), hours{8}, std::nullopt, lunch, 0.75);
  EXPECT_EQ(m.at_risk, june(3, 16));
  EXPECT_EQ(m.due, june(4, 10));  // the hour lost at lunch is worked Tuesday morning
  const std::vector<sla::Pause> open{{june(3, 12), std::nullopt}};
  m = sla::clock_milestones(office(), june(3, 9), hours{8}, std::nullopt, open, 0.75);
  EXPECT_FALSE(m.at_risk);
  EXPECT_FALSE(m.due);
  // An open pause that starts after the at-risk instant leaves that instant known.
  const std::vector<sla::Pause> late{{june(3, 16), std::nullopt}};
  m = sla::clock_milestones(office(), june(3, 9), hours{8}, std::nullopt, late, 0.75);
  EXPECT_EQ(m.at_risk, june(3, 15));
  EXPECT_FALSE(m.due);
}

TEST(SlaMilestones, AStoppedClockCountsOnlyThePausesBeforeItsStop) {
  // Paused from 12:00 without end, stopped at 14:00: the pause counted 12:00-14:00.
  const std::vector<sla::Pause> open{{june(3, 12), std::nullopt}};
  const auto m = sla::clock_milestones(office(), june(3, 9), hours{8}, june(3, 14), open, 0.75);
  EXPECT_EQ(m.at_risk, june(3, 17));
  EXPECT_EQ(m.due, june(4, 11));
}

TEST(SlaMilestones, RefusesWhatReadingsRefuse) {
  EXPECT_THROW(sla::clock_milestones(office(), june(3, 9), hours{-1}, std::nullopt, {}, 0.75),
               expense_ops::core::RuleViolation);
  EXPECT_THROW(sla::clock_milestones(office(), june(3, 9), hours{1}, std::nullopt, {}, 1.5),
               expense_ops::core::RuleViolation);
}

TEST(SlaMilestones, AReadingsStatesFollowTheMilestones) {
  const auto calendar = office();
  const auto m = sla::clock_milestones(calendar, june(3, 9), hours{8}, std::nullopt, {}, 0.75);
  const auto state_at = [&](Instant now) {
    return sla::read_clock(calendar, june(3, 9), hours{8}, std::nullopt, {}, now, 0.75).state;
  };
  EXPECT_EQ(state_at(*m.at_risk - std::chrono::microseconds{1}), sla::ClockState::kOnTrack);
  EXPECT_EQ(state_at(*m.at_risk), sla::ClockState::kAtRisk);
  EXPECT_EQ(state_at(*m.due - std::chrono::microseconds{1}), sla::ClockState::kAtRisk);
  EXPECT_EQ(state_at(*m.due), sla::ClockState::kBreached);
  EXPECT_EQ(sla::read_clock(calendar, june(3, 9), hours{8}, std::nullopt, {}, june(4, 9), 0.75).due,
            m.due);
}

sla::TicketMilestones four() {
  return {{june(3, 10), june(3, 11)}, {june(3, 15), june(3, 17)}};
}

TEST(SlaCrossings, WhatHappenedByAnInstantInTheirOrder) {
  const auto crossings = sla::crossings_by(four(), {}, june(3, 15));
  ASSERT_EQ(crossings.size(), 3u);
  EXPECT_EQ(crossings[0].clock, sla::Clock::kResponse);
  EXPECT_EQ(crossings[0].state, sla::ClockState::kAtRisk);
  EXPECT_EQ(crossings[1].state, sla::ClockState::kBreached);
  EXPECT_EQ(crossings[1].at, june(3, 11));
  EXPECT_EQ(crossings[2].clock, sla::Clock::kResolution);
  EXPECT_EQ(crossings[2].at, june(3, 15));
  EXPECT_TRUE(sla::crossings_by(four(), {}, june(3, 9)).empty());
}

TEST(SlaCrossings, AClockStoppedBeforeAMilestoneNeverCrossesIt) {
  sla::ClockStops stops;
  stops.first_response = june(3, 10, 30);  // after at risk, before due
  auto crossings = sla::crossings_by(four(), stops, june(3, 12));
  ASSERT_EQ(crossings.size(), 1u);
  EXPECT_EQ(crossings[0].state, sla::ClockState::kAtRisk);
  stops.first_response = june(3, 10);  // exactly at the at-risk instant: in time
  EXPECT_TRUE(sla::crossings_by(four(), stops, june(3, 12)).empty());
  // Unknown milestones (an open pause) cross nothing.
  sla::TicketMilestones paused{{}, {}};
  EXPECT_TRUE(sla::crossings_by(paused, {}, june(9, 12)).empty());
}

TEST(SlaCrossings, TheNextCrossingOfARunningClock) {
  EXPECT_EQ(sla::next_crossing(four(), {}, june(3, 9)), june(3, 10));
  EXPECT_EQ(sla::next_crossing(four(), {}, june(3, 10)), june(3, 11));  // strictly after
  sla::ClockStops stops;
  stops.first_response = june(3, 10, 30);
  EXPECT_EQ(sla::next_crossing(four(), stops, june(3, 9)), june(3, 15));  // response stopped
  stops.resolved = june(3, 12);
  EXPECT_FALSE(sla::next_crossing(four(), stops, june(3, 9)));
  EXPECT_FALSE(sla::next_crossing(four(), {}, june(3, 17)));
}

}  // namespace
