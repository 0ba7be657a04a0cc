#include "core/sla_clock.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <date/tz.h>
#include <gtest/gtest.h>

#include "core/error.hpp"

namespace sla = expense_ops::core::sla;
using expense_ops::core::Instant;
using expense_ops::core::RuleViolation;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;

namespace {

// Berlin office hours, Monday to Friday 09:00-17:00; 2024-06-03 is a Monday, in summer time.
sla::BusinessCalendar office() {
  std::vector<sla::WorkingInterval> week;
  for (int weekday = 1; weekday <= 5; ++weekday) {
    week.push_back({weekday, 9 * 60, 17 * 60});
  }
  return sla::BusinessCalendar::make("Europe/Berlin", week);
}

Instant berlin(unsigned day_of_june, int hour, int minute = 0) {
  const auto wall = date::local_days{date::year{2024} / date::June / date::day{day_of_june}} +
                    hours{hour} + minutes{minute};
  return Instant{date::make_zoned("Europe/Berlin", wall).get_sys_time()};
}

Instant monday(int hour, int minute = 0) {
  return berlin(3, hour, minute);
}
Instant tuesday(int hour, int minute = 0) {
  return berlin(4, hour, minute);
}

const hours kEightHours{8};

std::string sqlstate_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const RuleViolation& violation) {
    return violation.sqlstate();
  }
  return "no error";
}

}  // namespace

// ---- elapsed_excluding_pauses and due ------------------------------------------------------

TEST(SlaClockPauses, PausedWorkingTimeDoesNotCount) {
  const auto calendar = office();
  const std::vector<sla::Pause> pauses = {{monday(10), monday(12)}};
  EXPECT_EQ(sla::elapsed_excluding_pauses(calendar, monday(9), monday(17), pauses), hours{6});
  EXPECT_EQ(sla::due(calendar, monday(9), kEightHours, pauses), tuesday(11));
  EXPECT_EQ(sla::due(calendar, monday(9), kEightHours, {}), monday(17));
}

TEST(SlaClockPauses, OverlappingPausesInAnyOrderCountOnce) {
  const auto calendar = office();
  const std::vector<sla::Pause> pauses = {
      {monday(14), monday(14, 30)}, {monday(11), monday(13)}, {monday(10), monday(12)}};
  EXPECT_EQ(sla::elapsed_excluding_pauses(calendar, monday(9), monday(17), pauses),
            hours{4} + minutes{30});
  EXPECT_EQ(sla::due(calendar, monday(9), kEightHours, pauses), tuesday(12, 30));
}

TEST(SlaClockPauses, PausesOutsideWorkingHoursCostNothing) {
  const auto calendar = office();
  const std::vector<sla::Pause> pauses = {{monday(17), tuesday(9)}, {monday(6), monday(9)}};
  EXPECT_EQ(sla::due(calendar, monday(9), kEightHours, pauses), monday(17));
  EXPECT_EQ(sla::due(calendar, monday(16), hours{2}, pauses), tuesday(10));
  EXPECT_EQ(sla::elapsed_excluding_pauses(calendar, monday(9), tuesday(10), pauses), hours{9});
}

TEST(SlaClockPauses, PausesBeforeTheStartAndEmptyPausesAreIgnored) {
  const auto calendar = office();
  const std::vector<sla::Pause> pauses = {
      {berlin(1, 0), monday(9)}, {monday(11), monday(11)}, {monday(12), monday(10)}};
  EXPECT_EQ(sla::due(calendar, monday(9), kEightHours, pauses), monday(17));
  EXPECT_EQ(sla::elapsed_excluding_pauses(calendar, monday(9), monday(17), pauses), kEightHours);
}

TEST(SlaClockPauses, ElapsedOverAReversedSpanIsZero) {
  const std::vector<sla::Pause> pauses = {{monday(10), std::nullopt}};
  EXPECT_EQ(sla::elapsed_excluding_pauses(office(), monday(17), monday(9), pauses),
            microseconds{0});
}

TEST(SlaClockPauses, AnOpenPauseStopsTheClockIndefinitely) {
  const auto calendar = office();
  const std::vector<sla::Pause> open = {{monday(12), std::nullopt}};
  EXPECT_EQ(sla::due(calendar, monday(9), kEightHours, open), std::nullopt);
  EXPECT_EQ(sla::elapsed_excluding_pauses(calendar, monday(9), tuesday(17), open), hours{3});
  // A target reached before the pause starts is still due.
  EXPECT_EQ(sla::due(calendar, monday(9), hours{2}, open), monday(11));
  EXPECT_EQ(sla::due(calendar, monday(9), hours{3}, open), monday(12));
  // An open pause swallows the later ones.
  const std::vector<sla::Pause> swallowed = {{monday(10), std::nullopt}, {monday(11), tuesday(9)}};
  EXPECT_EQ(sla::due(calendar, monday(9), kEightHours, swallowed), std::nullopt);
}

TEST(SlaClockPauses, ZeroTargetIsDueAtTheStartNegativeIsRefused) {
  const auto calendar = office();
  EXPECT_EQ(sla::due(calendar, berlin(8, 12), microseconds{0}, {}), berlin(8, 12));
  EXPECT_EQ(sqlstate_of([&] { sla::due(calendar, monday(9), -hours{1}, {}); }), "22X45");
}

// ---- read_clock ----------------------------------------------------------------------------

TEST(SlaClockRead, StateNames) {
  EXPECT_EQ(sla::to_string(sla::ClockState::kMet), "met");
  EXPECT_EQ(sla::to_string(sla::ClockState::kOnTrack), "on_track");
  EXPECT_EQ(sla::to_string(sla::ClockState::kAtRisk), "at_risk");
  EXPECT_EQ(sla::to_string(sla::ClockState::kBreached), "breached");
  EXPECT_EQ(sla::to_string(sla::ClockState::kPaused), "paused");
}

TEST(SlaClockRead, OnTrack) {
  const auto reading =
      sla::read_clock(office(), monday(9), kEightHours, std::nullopt, {}, monday(10));
  EXPECT_EQ(reading.state, sla::ClockState::kOnTrack);
  EXPECT_EQ(reading.due, monday(17));
  EXPECT_EQ(reading.remaining, hours{7});
  EXPECT_DOUBLE_EQ(reading.used_fraction, 0.125);
}

TEST(SlaClockRead, AtRiskFromExactlyThreeQuarters) {
  const auto calendar = office();
  const auto before = sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, {},
                                      monday(15) - microseconds{1});
  EXPECT_EQ(before.state, sla::ClockState::kOnTrack);
  const auto at = sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, {}, monday(15));
  EXPECT_EQ(at.state, sla::ClockState::kAtRisk);
  EXPECT_EQ(at.used_fraction, 0.75);
  EXPECT_EQ(at.remaining, hours{2});
}

TEST(SlaClockRead, CustomAtRiskFraction) {
  const auto calendar = office();
  EXPECT_EQ(
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, {}, monday(13), 0.5).state,
      sla::ClockState::kAtRisk);
  EXPECT_EQ(sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, {}, monday(12, 59), 0.5)
                .state,
            sla::ClockState::kOnTrack);
  // 1 means at risk only once due, which is breached.
  EXPECT_EQ(sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, {}, monday(16, 59), 1.0)
                .state,
            sla::ClockState::kOnTrack);
}

TEST(SlaClockRead, BreachedFromTheDueInstant) {
  const auto calendar = office();
  const auto at_due =
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, {}, monday(17));
  EXPECT_EQ(at_due.state, sla::ClockState::kBreached);
  EXPECT_EQ(at_due.remaining, microseconds{0});
  const auto next_day =
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, {}, tuesday(10));
  EXPECT_EQ(next_day.state, sla::ClockState::kBreached);
  EXPECT_EQ(next_day.remaining, -hours{1});
  EXPECT_DOUBLE_EQ(next_day.used_fraction, 9.0 / 8.0);
}

TEST(SlaClockRead, PausedWhileNowIsInAPause) {
  const auto calendar = office();
  const std::vector<sla::Pause> pauses = {{monday(10), std::nullopt}};
  const auto reading =
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, pauses, monday(11));
  EXPECT_EQ(reading.state, sla::ClockState::kPaused);
  EXPECT_EQ(reading.due, std::nullopt);
  EXPECT_EQ(reading.remaining, hours{7});
  // Paused is reported even when the clock would be overdue without the pause's end.
  const std::vector<sla::Pause> late = {{monday(16), tuesday(12)}};
  const auto late_reading =
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, late, tuesday(10));
  EXPECT_EQ(late_reading.state, sla::ClockState::kPaused);
  EXPECT_EQ(late_reading.due, tuesday(13));
  // Once the pause is over, the clock runs again.
  const auto resumed =
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, late, tuesday(12));
  EXPECT_EQ(resumed.state, sla::ClockState::kAtRisk);
}

TEST(SlaClockRead, PausesAfterNowHaveNotHappened) {
  const std::vector<sla::Pause> later = {{monday(12), std::nullopt}};
  const auto reading =
      sla::read_clock(office(), monday(9), kEightHours, std::nullopt, later, monday(11));
  EXPECT_EQ(reading.state, sla::ClockState::kOnTrack);
  EXPECT_EQ(reading.due, monday(17));
}

TEST(SlaClockRead, StoppedBeforeOrAtTheDueTimeIsMet) {
  const auto calendar = office();
  const auto early = sla::read_clock(calendar, monday(9), kEightHours, monday(16), {}, tuesday(15));
  EXPECT_EQ(early.state, sla::ClockState::kMet);
  EXPECT_EQ(early.due, monday(17));
  EXPECT_EQ(early.remaining, hours{1});
  EXPECT_DOUBLE_EQ(early.used_fraction, 7.0 / 8.0);
  const auto on_time =
      sla::read_clock(calendar, monday(9), kEightHours, monday(17), {}, tuesday(15));
  EXPECT_EQ(on_time.state, sla::ClockState::kMet);
  EXPECT_EQ(on_time.remaining, microseconds{0});
}

TEST(SlaClockRead, StoppedAfterTheDueTimeIsBreached) {
  const auto calendar = office();
  const auto late = sla::read_clock(calendar, monday(9), kEightHours, tuesday(10), {}, tuesday(15));
  EXPECT_EQ(late.state, sla::ClockState::kBreached);
  EXPECT_EQ(late.remaining, -hours{1});
  // Past the due instant but without working time since: breached, with nothing overdue.
  const auto evening =
      sla::read_clock(calendar, monday(9), kEightHours, monday(18), {}, tuesday(15));
  EXPECT_EQ(evening.state, sla::ClockState::kBreached);
  EXPECT_EQ(evening.remaining, microseconds{0});
}

TEST(SlaClockRead, AStoppedClockCountsPausesOnlyUpToTheStop) {
  const auto calendar = office();
  const std::vector<sla::Pause> pauses = {{monday(10), std::nullopt}, {monday(13), monday(14)}};
  const auto reading =
      sla::read_clock(calendar, monday(9), kEightHours, monday(12), pauses, tuesday(15));
  EXPECT_EQ(reading.state, sla::ClockState::kMet);
  EXPECT_EQ(reading.due, tuesday(11));
  EXPECT_EQ(reading.remaining, hours{7});
}

TEST(SlaClockRead, RefusesNegativeTargetsAndFractionsOutsideZeroToOne) {
  const auto calendar = office();
  const auto reading_with = [&](microseconds target, double fraction) {
    return [&calendar, target, fraction] {
      sla::read_clock(calendar, monday(9), target, std::nullopt, {}, monday(10), fraction);
    };
  };
  EXPECT_EQ(sqlstate_of(reading_with(-minutes{1}, 0.75)), "22X45");
  EXPECT_EQ(sqlstate_of(reading_with(kEightHours, 0.0)), "22X46");
  EXPECT_EQ(sqlstate_of(reading_with(kEightHours, -0.5)), "22X46");
  EXPECT_EQ(sqlstate_of(reading_with(kEightHours, 1.5)), "22X46");
  EXPECT_EQ(sqlstate_of(reading_with(kEightHours, std::numeric_limits<double>::quiet_NaN())),
            "22X46");
  EXPECT_EQ(sqlstate_of(reading_with(kEightHours, 1.0)), "no error");
}

TEST(SlaClockRead, ZeroTargetIsBreachedAtOnce) {
  const auto reading =
      sla::read_clock(office(), monday(9), microseconds{0}, std::nullopt, {}, monday(9));
  EXPECT_EQ(reading.state, sla::ClockState::kBreached);
  EXPECT_EQ(reading.due, monday(9));
  EXPECT_EQ(reading.used_fraction, 1.0);
}
