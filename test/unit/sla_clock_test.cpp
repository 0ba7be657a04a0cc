#include "core/sla_clock.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <date/tz.h>
#include <gtest/gtest.h>

#include "core/error.hpp"

namespace sla = expense_ops::core::sla;
using expense_ops::core::format_iso8601;
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
  // Paused is reported even when the clock would be overdue without the pause; the pause's end
  // lies after `now` and is not known yet, so neither is the due time.
  const std::vector<sla::Pause> late = {{monday(16), tuesday(12)}};
  const auto late_reading =
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, late, tuesday(10));
  EXPECT_EQ(late_reading.state, sla::ClockState::kPaused);
  EXPECT_EQ(late_reading.due, std::nullopt);
  EXPECT_EQ(late_reading.remaining, hours{1});
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

TEST(SlaClockRead, AStopAfterNowHasNotHappened) {
  // Reported through SQL on the 24x7 calendar: read at 11:30 it showed met, 00:20 remaining.
  const auto at = [](int hour, int minute) {
    return Instant{date::sys_days{date::year{2026} / date::November / 2} + hours{hour} +
                   minutes{minute}};
  };
  const auto calendar = sla::BusinessCalendar::always();
  const auto before_stop =
      sla::read_clock(calendar, at(10, 0), hours{2}, at(11, 40), {}, at(11, 30), 0.75);
  EXPECT_EQ(before_stop.state, sla::ClockState::kAtRisk);
  EXPECT_EQ(before_stop.due, at(12, 0));
  EXPECT_EQ(before_stop.remaining, minutes{30});
  EXPECT_EQ(before_stop.used_fraction, 0.75);
  // From the stop on, the clock is met.
  const auto at_stop =
      sla::read_clock(calendar, at(10, 0), hours{2}, at(11, 40), {}, at(11, 40), 0.75);
  EXPECT_EQ(at_stop.state, sla::ClockState::kMet);
  EXPECT_EQ(at_stop.remaining, minutes{20});
}

TEST(SlaClockRead, APauseEndingAfterNowIsStillOpen) {
  const auto calendar = office();
  const std::vector<sla::Pause> pauses = {{monday(10), monday(12)}};
  const auto during =
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, pauses, monday(11));
  EXPECT_EQ(during.state, sla::ClockState::kPaused);
  EXPECT_EQ(during.due, std::nullopt);
  EXPECT_EQ(during.remaining, hours{7});
  EXPECT_DOUBLE_EQ(during.used_fraction, 0.125);
  // At its end the pause is over and its length known.
  const auto after =
      sla::read_clock(calendar, monday(9), kEightHours, std::nullopt, pauses, monday(12));
  EXPECT_EQ(after.state, sla::ClockState::kOnTrack);
  EXPECT_EQ(after.due, tuesday(11));
  EXPECT_EQ(after.remaining, hours{7});
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

// ---- property: a reading depends only on what was known at its instant ----------------------

namespace {

// A working week with one or two intervals, at quarter hours, on most weekdays.
std::vector<sla::WorkingInterval> random_week(std::mt19937_64& random) {
  std::vector<sla::WorkingInterval> week;
  std::uniform_int_distribution<int> quarter_hour(0, 96);
  for (int weekday = 1; weekday <= 7; ++weekday) {
    if (random() % 4 == 0) {
      continue;
    }
    const std::size_t count = 1 + random() % 2;
    std::set<int> boundaries;
    while (boundaries.size() < 2 * count) {
      boundaries.insert(quarter_hour(random) * 15);
    }
    const std::vector<int> sorted(boundaries.begin(), boundaries.end());
    for (std::size_t i = 0; i < count; ++i) {
      week.push_back({weekday, sorted[2 * i], sorted[2 * i + 1]});
    }
  }
  if (week.empty()) {
    week.push_back({1, 9 * 60, 17 * 60});
  }
  return week;
}

// Every field, so that a failed comparison shows what differs.
std::string describe(const sla::ClockReading& reading) {
  char fraction[32];
  std::snprintf(fraction, sizeof fraction, "%.17g", reading.used_fraction);
  return std::string(sla::to_string(reading.state)) + " due " +
         (reading.due ? format_iso8601(*reading.due) : "none") + " remaining " +
         std::to_string(reading.remaining.count()) + "us used " + fraction;
}

// The pauses as they stood at `at`: later ones had not started, and one still running had no end.
std::vector<sla::Pause> known_at(const std::vector<sla::Pause>& pauses, Instant at) {
  std::vector<sla::Pause> known;
  for (const auto& pause : pauses) {
    if (pause.start <= at) {
      known.push_back({pause.start, pause.end && *pause.end <= at ? pause.end : std::nullopt});
    }
  }
  return known;
}

}  // namespace

TEST(SlaClockProperty, AReadingDependsOnlyOnWhatWasKnownAtItsInstant) {
  const char* const kZones[] = {"Europe/Berlin", "America/New_York", "Australia/Sydney",
                                "Asia/Kolkata", "UTC"};
  // Spans around a spring-forward and a fall-back.
  const Instant kAnchors[] = {Instant{date::sys_days{date::year{2024} / 3 / 28}},
                              Instant{date::sys_days{date::year{2024} / 10 / 24}}};
  constexpr int kSpanMinutes = 8 * 24 * 60;
  constexpr int kClocks = 300;
  constexpr int kQueries = 40;
  const double kAtRiskFractions[] = {0.5, 0.75, 1.0};

  std::mt19937_64 random(20261102);
  const auto minute_in = [&random](int first, int last) {
    return minutes{std::uniform_int_distribution<int>(first, last)(random)};
  };
  for (int case_number = 0; case_number < kClocks; ++case_number) {
    const bool always = random() % 6 == 0;
    const std::string zone = always ? "24x7" : kZones[random() % std::size(kZones)];
    const auto calendar = always ? sla::BusinessCalendar::always()
                                 : sla::BusinessCalendar::make(zone, random_week(random));
    const Instant span_begin = kAnchors[random() % std::size(kAnchors)] + minute_in(0, 24 * 60);
    const auto any_instant = [&] { return span_begin + minute_in(0, kSpanMinutes); };
    const Instant started = span_begin + minute_in(24 * 60, 2 * 24 * 60);
    const minutes target = random() % 10 == 0 ? minutes{0} : minute_in(1, 3 * 24 * 60);
    const double at_risk_fraction = kAtRiskFractions[random() % std::size(kAtRiskFractions)];

    std::vector<sla::Pause> pauses(random() % 5);
    for (auto& pause : pauses) {
      pause.start = any_instant();
      const auto kind = random() % 10;
      if (kind < 2) {
        pause.end = std::nullopt;
      } else if (kind < 3) {
        pause.end = pause.start - minute_in(0, 60);  // empty
      } else {
        pause.end = pause.start + minute_in(1, 2 * 24 * 60);
      }
    }
    const std::optional<Instant> stopped =
        random() % 2 == 0 ? std::nullopt
                          : std::optional<Instant>(started + minute_in(0, 5 * 24 * 60));

    // Instants where something happens, and just either side of them, are where it goes wrong.
    std::vector<Instant> events = {started};
    for (const auto& pause : pauses) {
      events.push_back(pause.start);
      if (pause.end) {
        events.push_back(*pause.end);
      }
    }
    if (stopped) {
      events.push_back(*stopped);
    }
    SCOPED_TRACE("clock " + std::to_string(case_number) + " in " + zone + " started " +
                 format_iso8601(started) + " target " + std::to_string(target.count()) + " min");

    for (int query = 0; query < kQueries; ++query) {
      Instant at = any_instant();
      if (random() % 2 == 0) {
        at = events[random() % events.size()] + microseconds{static_cast<int>(random() % 3) - 1};
      }
      const auto read = [&](std::optional<Instant> stop, const std::vector<sla::Pause>& paused) {
        return describe(
            sla::read_clock(calendar, started, target, stop, paused, at, at_risk_fraction));
      };
      const auto reading = read(stopped, pauses);
      SCOPED_TRACE("at " + format_iso8601(at) + ": " + reading);

      const bool stop_known = stopped && *stopped <= at;
      ASSERT_EQ(reading, read(stop_known ? stopped : std::nullopt, known_at(pauses, at)));

      // Any other future gives the same reading: a later stop, and pauses ending differently.
      if (!stop_known) {
        ASSERT_EQ(reading, read(at + microseconds{1} + minute_in(0, 3 * 24 * 60), pauses));
        ASSERT_EQ(reading, read(std::nullopt, pauses));
      }
      std::vector<sla::Pause> other_future = pauses;
      for (auto& pause : other_future) {
        if (pause.start > at) {
          pause.start = at + microseconds{1} + minute_in(0, 24 * 60);
        }
        if (!pause.end || *pause.end > at) {
          pause.end = std::max(pause.start, at) + microseconds{1} + minute_in(0, 24 * 60);
        }
      }
      other_future.push_back({at + microseconds{1}, std::nullopt});
      ASSERT_EQ(reading, read(stopped, other_future));
    }
  }
}
