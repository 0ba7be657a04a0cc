#include "core/sla_calendar.hpp"

#include <algorithm>
#include <functional>
#include <random>
#include <set>
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

using date::days;
using Ymd = date::year_month_day;

Ymd ymd(int year, unsigned month, unsigned day) {
  return Ymd{date::year{year}, date::month{month}, date::day{day}};
}

// Wall-clock time in `zone`; an ambiguous time is its first occurrence.
Instant local(const char* zone, Ymd day, int hour, int minute = 0) {
  const auto wall = date::local_days{day} + hours{hour} + minutes{minute};
  return Instant{date::make_zoned(zone, wall, date::choose::earliest).get_sys_time()};
}

Instant utc(Ymd day, int hour = 0, int minute = 0) {
  return Instant{date::sys_days{day} + hours{hour} + minutes{minute}};
}

// Instants print as raw bytes in a failed expectation; their ISO form says more.
std::string iso(Instant instant) {
  return expense_ops::core::format_iso8601(instant);
}

sla::LocalDate local_date(Ymd day) {
  return static_cast<sla::LocalDate>(date::sys_days{day}.time_since_epoch().count());
}

std::vector<sla::WorkingInterval> every_weekday(int start_minute, int end_minute, int last = 5) {
  std::vector<sla::WorkingInterval> week;
  for (int weekday = 1; weekday <= last; ++weekday) {
    week.push_back({weekday, start_minute, end_minute});
  }
  return week;
}

// Monday to Friday, 09:00-17:00, in Berlin. 2024-06-03 is a Monday.
sla::BusinessCalendar office(std::vector<sla::LocalDate> holidays = {}) {
  return sla::BusinessCalendar::make("Europe/Berlin", every_weekday(9 * 60, 17 * 60),
                                     std::move(holidays));
}

const char* const kBerlin = "Europe/Berlin";
const Ymd kMonday = ymd(2024, 6, 3);
const Ymd kTuesday = ymd(2024, 6, 4);
const Ymd kWednesday = ymd(2024, 6, 5);
const Ymd kFriday = ymd(2024, 6, 7);
const Ymd kSaturday = ymd(2024, 6, 8);
const Ymd kSunday = ymd(2024, 6, 9);
const Ymd kNextMonday = ymd(2024, 6, 10);

std::string sqlstate_of(const std::function<void()>& action, std::string* message = nullptr,
                        std::string* hint = nullptr) {
  try {
    action();
  } catch (const RuleViolation& violation) {
    if (message) {
      *message = violation.what();
    }
    if (hint) {
      *hint = violation.hint();
    }
    return violation.sqlstate();
  }
  return "no error";
}

}  // namespace

// ---- adding business time ------------------------------------------------------------------

TEST(SlaCalendarAdd, WithinADay) {
  const auto calendar = office();
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 10), hours{3}), local(kBerlin, kMonday, 13));
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 10, 15), minutes{1}),
            local(kBerlin, kMonday, 10, 16));
}

TEST(SlaCalendarAdd, CarriesOverNightIntoTheNextWorkingDay) {
  const auto calendar = office();
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 15), hours{4}), local(kBerlin, kTuesday, 11));
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 9), hours{8 * 3 + 1}),
            local(kBerlin, ymd(2024, 6, 6), 10));
}

TEST(SlaCalendarAdd, WorkingTimeAcrossLocalMidnightIsOneStretch) {
  // A night shift, 22:00-02:00, written as two intervals per night.
  std::vector<sla::WorkingInterval> nights;
  for (int weekday = 1; weekday <= 7; ++weekday) {
    nights.push_back({weekday, 22 * 60, 24 * 60});
    nights.push_back({weekday, 0, 2 * 60});
  }
  const auto calendar = sla::BusinessCalendar::make(kBerlin, nights);
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 23), hours{2}), local(kBerlin, kTuesday, 1));
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kMonday, 12), local(kBerlin, kTuesday, 12)), hours{4});
  EXPECT_TRUE(calendar.is_working(local(kBerlin, kTuesday, 0)));
  EXPECT_FALSE(calendar.is_working(local(kBerlin, kTuesday, 2)));
}

TEST(SlaCalendarAdd, SkipsTheWeekend) {
  const auto calendar = office();
  EXPECT_EQ(calendar.add(local(kBerlin, kFriday, 16), hours{2}), local(kBerlin, kNextMonday, 10));
}

TEST(SlaCalendarAdd, SkipsHolidays) {
  const auto calendar = office({local_date(kTuesday)});
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 16), hours{2}), local(kBerlin, kWednesday, 10));
  EXPECT_FALSE(calendar.is_working(local(kBerlin, kTuesday, 12)));
}

TEST(SlaCalendarAdd, StartingOutsideWorkingHoursWaitsForTheNextStart) {
  const auto calendar = office({local_date(kTuesday)});
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 20), hours{1}), local(kBerlin, kWednesday, 10));
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 6), hours{1}), local(kBerlin, kMonday, 10));
  EXPECT_EQ(calendar.add(local(kBerlin, kSaturday, 12), hours{1}), local(kBerlin, kNextMonday, 10));
  EXPECT_EQ(calendar.add(local(kBerlin, kTuesday, 10), hours{1}), local(kBerlin, kWednesday, 10));
}

TEST(SlaCalendarAdd, LunchBreakIsNotWorkingTime) {
  std::vector<sla::WorkingInterval> week = every_weekday(9 * 60, 12 * 60);
  for (const auto& afternoon : every_weekday(13 * 60, 17 * 60)) {
    week.push_back(afternoon);
  }
  const auto calendar = sla::BusinessCalendar::make(kBerlin, week);
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 11), hours{2}), local(kBerlin, kMonday, 14));
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 12, 30), minutes{30}),
            local(kBerlin, kMonday, 13, 30));
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kMonday, 11, 30), local(kBerlin, kMonday, 13, 30)),
            hours{1});
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kMonday, 0), local(kBerlin, kTuesday, 0)), hours{7});
}

TEST(SlaCalendarAdd, TimeRunningOutAtTheEndOfARangeIsDueAtThatEnd) {
  const auto calendar = office();
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 16), hours{1}), local(kBerlin, kMonday, 17));
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 9), hours{8}), local(kBerlin, kMonday, 17));
  EXPECT_EQ(calendar.add(local(kBerlin, kFriday, 9), hours{8}), local(kBerlin, kFriday, 17));
  // From the end of a range, the next start is where the time begins to run.
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 17), hours{1}), local(kBerlin, kTuesday, 10));
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 17), microseconds{1}),
            local(kBerlin, kTuesday, 9) + microseconds{1});
}

TEST(SlaCalendarAdd, TouchingIntervalsBehaveAsOne) {
  std::vector<sla::WorkingInterval> week = every_weekday(9 * 60, 12 * 60);
  for (const auto& afternoon : every_weekday(12 * 60, 17 * 60)) {
    week.push_back(afternoon);
  }
  const auto calendar = sla::BusinessCalendar::make(kBerlin, week);
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 11), hours{1}), local(kBerlin, kMonday, 12));
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 11), hours{2}), local(kBerlin, kMonday, 13));
  EXPECT_EQ(calendar.add(local(kBerlin, kMonday, 9), hours{8}), local(kBerlin, kMonday, 17));
}

TEST(SlaCalendarAdd, ZeroIsTheStartAndNegativeIsRefused) {
  const auto calendar = office();
  const Instant saturday = local(kBerlin, kSaturday, 12);
  EXPECT_EQ(calendar.add(saturday, microseconds{0}), saturday);
  EXPECT_EQ(sqlstate_of([&] { calendar.add(saturday, -minutes{1}); }), "22X45");
}

// ---- is_working ----------------------------------------------------------------------------

TEST(SlaCalendarIsWorking, RangesAreHalfOpen) {
  const auto calendar = office();
  EXPECT_FALSE(calendar.is_working(local(kBerlin, kMonday, 9) - microseconds{1}));
  EXPECT_TRUE(calendar.is_working(local(kBerlin, kMonday, 9)));
  EXPECT_TRUE(calendar.is_working(local(kBerlin, kMonday, 17) - microseconds{1}));
  EXPECT_FALSE(calendar.is_working(local(kBerlin, kMonday, 17)));
  EXPECT_FALSE(calendar.is_working(local(kBerlin, kSunday, 12)));
}

// ---- elapsed -------------------------------------------------------------------------------

TEST(SlaCalendarElapsed, ReversedOrEqualInstantsGiveZero) {
  const auto calendar = office();
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kMonday, 12), local(kBerlin, kMonday, 10)),
            microseconds{0});
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kMonday, 12), local(kBerlin, kMonday, 12)),
            microseconds{0});
}

TEST(SlaCalendarElapsed, CountsOnlyWorkingTime) {
  const auto calendar = office();
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kMonday, 8), local(kBerlin, kMonday, 10)), hours{1});
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kMonday, 0), local(kBerlin, kNextMonday, 0)),
            hours{40});
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kSunday, 12), local(kBerlin, kNextMonday, 12)),
            hours{3});
  EXPECT_EQ(calendar.elapsed(local(kBerlin, kFriday, 16), local(kBerlin, kNextMonday, 10)),
            hours{2});
}

TEST(SlaCalendarElapsed, AcrossTheYearBoundary) {
  // 2025-01-01 is a Wednesday; the UTC year changes at 01:00 Berlin time.
  const Instant from = local(kBerlin, ymd(2024, 12, 31), 16);
  const Instant to = local(kBerlin, ymd(2025, 1, 2), 10);
  EXPECT_EQ(office().elapsed(from, to), hours{10});
  EXPECT_EQ(office({local_date(ymd(2025, 1, 1))}).elapsed(from, to), hours{2});

  // A Berlin day runs over the UTC New Year: the cache must join its two halves.
  const auto all_day = sla::BusinessCalendar::make(kBerlin, every_weekday(0, 24 * 60, 7));
  EXPECT_EQ(all_day.elapsed(utc(ymd(2024, 12, 31), 12), utc(ymd(2025, 1, 1), 12)), hours{24});
  EXPECT_EQ(all_day.add(utc(ymd(2024, 12, 31), 23), hours{2}), utc(ymd(2025, 1, 1), 1));
  EXPECT_TRUE(all_day.is_working(utc(ymd(2025, 1, 1))));
}

TEST(SlaCalendarElapsed, FarPastAndFutureExtendTheCacheBothWays) {
  const auto calendar = sla::BusinessCalendar::make("UTC", every_weekday(9 * 60, 17 * 60),
                                                    {local_date(ymd(1970, 1, 5))});
  // 2199-12-30 is a Monday.
  EXPECT_EQ(calendar.add(utc(ymd(2199, 12, 30), 9), hours{8 * 5}), utc(ymd(2200, 1, 3), 17));
  // 1970-01-05 is a Monday, and here a holiday.
  EXPECT_EQ(calendar.elapsed(utc(ymd(1970, 1, 5)), utc(ymd(1970, 1, 6), 10)), hours{1});
  EXPECT_EQ(calendar.elapsed(utc(ymd(1970, 1, 5)), utc(ymd(2200, 1, 5))),
            calendar.elapsed(utc(ymd(1970, 1, 5)), utc(ymd(2100, 1, 1))) +
                calendar.elapsed(utc(ymd(2100, 1, 1)), utc(ymd(2200, 1, 5))));
  // 2100-01-01 is a Friday: the week after it holds 40 hours.
  EXPECT_EQ(calendar.elapsed(utc(ymd(2100, 1, 1)), utc(ymd(2100, 1, 8))), hours{40});
}

TEST(SlaCalendarElapsed, InstantsOutsideTheCoveredYearsAreRefused) {
  const auto calendar = office();
  EXPECT_EQ(sqlstate_of([&] { calendar.elapsed(utc(ymd(1850, 1, 1)), utc(ymd(2024, 1, 1))); }),
            "22008");
  EXPECT_EQ(sqlstate_of([&] { calendar.is_working(utc(ymd(2500, 1, 1))); }), "22008");
  EXPECT_EQ(sqlstate_of([&] { calendar.add(utc(ymd(2399, 6, 1)), hours{24 * 365}); }), "22008");
}

TEST(SlaCalendarAlways, EveryInstantWorks) {
  const auto calendar = sla::BusinessCalendar::always();
  const Instant from = utc(ymd(2024, 3, 30), 12);
  EXPECT_EQ(calendar.elapsed(from, from + hours{49}), hours{49});
  EXPECT_EQ(calendar.add(from, hours{49}), from + hours{49});
  EXPECT_TRUE(calendar.is_working(utc(ymd(2024, 6, 9), 3)));
  EXPECT_EQ(calendar.elapsed(from + hours{1}, from), microseconds{0});
  EXPECT_EQ(calendar.time_zone(), "UTC");
}

// ---- daylight saving time ------------------------------------------------------------------

namespace {

struct DstDay {
  const char* zone;
  Ymd day;
  hours length;       // the local day in real time
  hours one_to_four;  // 01:00-04:00 local in real time
};

// Spring forward and fall back in both hemispheres. 2024 transitions: Berlin 03-31 and 10-27,
// New York 03-10 and 11-03 (at 02:00, back to 01:00), Sydney 04-07 back and 10-06 forward.
const DstDay kDstDays[] = {
    {"Europe/Berlin", ymd(2024, 3, 31), hours{23}, hours{2}},
    {"Europe/Berlin", ymd(2024, 10, 27), hours{25}, hours{4}},
    {"America/New_York", ymd(2024, 3, 10), hours{23}, hours{2}},
    {"America/New_York", ymd(2024, 11, 3), hours{25}, hours{4}},
    {"Australia/Sydney", ymd(2024, 4, 7), hours{25}, hours{4}},
    {"Australia/Sydney", ymd(2024, 10, 6), hours{23}, hours{2}},
    {"Europe/Berlin", ymd(2024, 6, 9), hours{24}, hours{3}},
};

Ymd next_day(Ymd day) {
  return Ymd{date::sys_days{day} + days{1}};
}

}  // namespace

TEST(SlaCalendarDst, OfficeHoursAreEightRealHoursOnTransitionDays) {
  for (const auto& dst : kDstDays) {
    SCOPED_TRACE(std::string(dst.zone) + " " + date::format("%F", date::sys_days{dst.day}));
    const auto calendar = sla::BusinessCalendar::make(dst.zone, every_weekday(9 * 60, 17 * 60, 7));
    const Instant midnight = local(dst.zone, dst.day, 0);
    const Instant next_midnight = local(dst.zone, next_day(dst.day), 0);
    EXPECT_EQ(next_midnight - midnight, microseconds{dst.length});
    EXPECT_EQ(calendar.elapsed(midnight, next_midnight), hours{8});
    EXPECT_EQ(calendar.add(midnight, hours{8}), local(dst.zone, dst.day, 17));
  }
}

TEST(SlaCalendarDst, AllDayIntervalsLastTheRealLengthOfTheDay) {
  for (const auto& dst : kDstDays) {
    SCOPED_TRACE(std::string(dst.zone) + " " + date::format("%F", date::sys_days{dst.day}));
    const auto calendar = sla::BusinessCalendar::make(dst.zone, every_weekday(0, 24 * 60, 7));
    const Instant midnight = local(dst.zone, dst.day, 0);
    const Instant next_midnight = local(dst.zone, next_day(dst.day), 0);
    EXPECT_EQ(calendar.elapsed(midnight, next_midnight), dst.length);
    EXPECT_EQ(calendar.add(midnight, dst.length), next_midnight);
  }
}

TEST(SlaCalendarDst, NightIntervalsCountTheSkippedOrRepeatedHour) {
  for (const auto& dst : kDstDays) {
    SCOPED_TRACE(std::string(dst.zone) + " " + date::format("%F", date::sys_days{dst.day}));
    const auto calendar = sla::BusinessCalendar::make(dst.zone, every_weekday(60, 4 * 60, 7));
    const Instant midnight = local(dst.zone, dst.day, 0);
    const Instant next_midnight = local(dst.zone, next_day(dst.day), 0);
    EXPECT_EQ(calendar.elapsed(midnight, next_midnight), dst.one_to_four);
    EXPECT_EQ(calendar.add(midnight, dst.one_to_four), local(dst.zone, dst.day, 4));
  }
}

TEST(SlaCalendarDst, AddingAcrossSpringForwardCountsRealTime) {
  const auto all_day = sla::BusinessCalendar::make(kBerlin, every_weekday(0, 24 * 60, 7));
  // 24 real hours after Saturday noon the clocks show 13:00.
  EXPECT_EQ(all_day.add(local(kBerlin, ymd(2024, 3, 30), 12), hours{24}),
            local(kBerlin, ymd(2024, 3, 31), 13));
  const auto calendar = office();
  EXPECT_EQ(calendar.add(local(kBerlin, ymd(2024, 3, 29), 16), hours{2}),
            local(kBerlin, ymd(2024, 4, 1), 10));
}

TEST(SlaCalendarDst, IntervalStartingInTheGapStartsWhenTheGapEnds) {
  const auto calendar = sla::BusinessCalendar::make(kBerlin, {{7, 2 * 60 + 30, 5 * 60}});
  const Ymd spring = ymd(2024, 3, 31);
  const Instant gap_end = utc(spring, 1);  // 02:00 CET became 03:00 CEST
  EXPECT_FALSE(calendar.is_working(gap_end - microseconds{1}));
  EXPECT_TRUE(calendar.is_working(gap_end));
  EXPECT_EQ(calendar.elapsed(local(kBerlin, spring, 0), local(kBerlin, spring, 12)), hours{2});
}

TEST(SlaCalendarDst, IntervalEndingInTheRepeatedHourCountsBothPasses) {
  // 00:00-02:30 on the Berlin fall-back day: 00:00-02:30 CEST, then 02:00-02:30 CET again.
  const auto calendar = sla::BusinessCalendar::make(kBerlin, {{7, 0, 2 * 60 + 30}});
  const Ymd autumn = ymd(2024, 10, 27);
  EXPECT_EQ(calendar.elapsed(local(kBerlin, autumn, 0), local(kBerlin, autumn, 12)), hours{3});
  EXPECT_TRUE(calendar.is_working(utc(autumn, 0, 15)));   // 02:15 CEST
  EXPECT_FALSE(calendar.is_working(utc(autumn, 0, 45)));  // 02:45 CEST
  EXPECT_TRUE(calendar.is_working(utc(autumn, 1, 15)));   // 02:15 CET
  EXPECT_FALSE(calendar.is_working(utc(autumn, 1, 30)));  // 02:30 CET
}

// ---- validation ----------------------------------------------------------------------------

TEST(SlaCalendarValidation, UnknownTimeZone) {
  std::string message;
  EXPECT_EQ(sqlstate_of(
                [] { sla::BusinessCalendar::make("Mars/Olympus_Mons", every_weekday(540, 1020)); },
                &message),
            "22X40");
  EXPECT_NE(message.find("Mars/Olympus_Mons"), std::string::npos) << message;
  try {
    sla::BusinessCalendar::make("Europe/Berlinn", every_weekday(540, 1020));
    FAIL() << "accepted a misspelt zone";
  } catch (const RuleViolation& violation) {
    EXPECT_NE(violation.hint().find("pg_timezone_names"), std::string::npos);
  }
}

TEST(SlaCalendarValidation, InvertedOrEmptyInterval) {
  std::string message;
  EXPECT_EQ(sqlstate_of(
                [] {
                  sla::BusinessCalendar::make(kBerlin, {{2, 17 * 60, 9 * 60}});
                },
                &message),
            "22X41");
  EXPECT_NE(message.find("Tuesday 17:00-09:00"), std::string::npos) << message;
  std::string hint;
  EXPECT_EQ(sqlstate_of(
                [] {
                  sla::BusinessCalendar::make(kBerlin, {{2, 600, 600}});
                },
                &message, &hint),
            "22X41");
  EXPECT_EQ(hint, "Give the start before the end, such as 09:00-17:00.");
}

TEST(SlaCalendarValidation, InvertedIntervalHintSplitsTheNightShiftAtMidnight) {
  std::string message;
  std::string hint;
  EXPECT_EQ(sqlstate_of(
                [] {
                  sla::BusinessCalendar::make(kBerlin, {{2, 22 * 60, 6 * 60}});
                },
                &message, &hint),
            "22X41");
  EXPECT_EQ(message, "working interval Tuesday 22:00-06:00 does not end after it starts");
  EXPECT_EQ(hint,
            "An overnight shift needs two intervals: Tuesday 22:00-24:00 and Wednesday "
            "00:00-06:00; 24:00 is the midnight that ends the day.");
  // The hint's intervals make a valid calendar with the intended hours.
  const auto nights = sla::BusinessCalendar::make(kBerlin, {{2, 22 * 60, 24 * 60}, {3, 0, 6 * 60}});
  EXPECT_EQ(nights.elapsed(local(kBerlin, kMonday, 0), local(kBerlin, kNextMonday, 0)), hours{8});
  EXPECT_TRUE(nights.is_working(local(kBerlin, kWednesday, 5, 59)));

  // Sunday night runs into Monday.
  sqlstate_of(
      [] {
        sla::BusinessCalendar::make(kBerlin, {{7, 23 * 60, 7 * 60 + 30}});
      },
      &message, &hint);
  EXPECT_NE(hint.find("Sunday 23:00-24:00 and Monday 00:00-07:30"), std::string::npos) << hint;
  // Ending at midnight is written 24:00, not 00:00.
  sqlstate_of([] { sla::BusinessCalendar::make(kBerlin, {{5, 22 * 60, 0}}); }, &message, &hint);
  EXPECT_EQ(hint, "Write midnight at the end of the day as 24:00: Friday 22:00-24:00.");
}

TEST(SlaCalendarValidation, IntervalOutsideTheDay) {
  std::string message;
  EXPECT_EQ(sqlstate_of(
                [] {
                  sla::BusinessCalendar::make(kBerlin, {{5, 22 * 60, 25 * 60}});
                },
                &message),
            "22X41");
  EXPECT_NE(message.find("Friday 22:00-25:00"), std::string::npos) << message;
  std::string hint;
  sqlstate_of(
      [] {
        sla::BusinessCalendar::make(kBerlin, {{5, 22 * 60, 25 * 60}});
      },
      &message, &hint);
  EXPECT_NE(hint.find("Friday 22:00-24:00 and Saturday 00:00-01:00"), std::string::npos) << hint;
  EXPECT_EQ(sqlstate_of(
                [] {
                  sla::BusinessCalendar::make(kBerlin, {{5, -30, 60}});
                },
                &message),
            "22X41");
  EXPECT_NE(message.find("-00:30"), std::string::npos) << message;
  // 24:00 itself is the next midnight, and fine.
  EXPECT_NO_THROW(sla::BusinessCalendar::make(kBerlin, {{5, 0, 24 * 60}}));
}

TEST(SlaCalendarValidation, OverlappingIntervalsOnOneWeekday) {
  std::string message;
  EXPECT_EQ(sqlstate_of(
                [] {
                  sla::BusinessCalendar::make(
                      kBerlin, {{3, 13 * 60, 17 * 60}, {1, 9 * 60, 12 * 60}, {3, 9 * 60, 14 * 60}});
                },
                &message),
            "22X42");
  EXPECT_NE(message.find("Wednesday 09:00-14:00"), std::string::npos) << message;
  EXPECT_NE(message.find("Wednesday 13:00-17:00"), std::string::npos) << message;
  // The same hours on different weekdays do not overlap.
  EXPECT_NO_THROW(sla::BusinessCalendar::make(kBerlin, {{1, 540, 1020}, {2, 540, 1020}}));
}

TEST(SlaCalendarValidation, WeekdayOutsideOneToSeven) {
  std::string message;
  EXPECT_EQ(sqlstate_of(
                [] {
                  sla::BusinessCalendar::make(kBerlin, {{8, 540, 1020}});
                },
                &message),
            "22X43");
  EXPECT_NE(message.find("weekday 8"), std::string::npos) << message;
  EXPECT_EQ(sqlstate_of([] { sla::BusinessCalendar::make(kBerlin, {{0, 540, 1020}}); }), "22X43");
}

TEST(SlaCalendarValidation, WeekWithoutWorkingTime) {
  std::string message;
  EXPECT_EQ(sqlstate_of([] { sla::BusinessCalendar::make(kBerlin, {}); }, &message), "22X44");
  EXPECT_NE(message.find("no working time"), std::string::npos) << message;
}

TEST(SlaCalendarValidation, KeepsTheDefinitionInOrder) {
  const auto calendar = sla::BusinessCalendar::make(
      kBerlin, {{3, 540, 1020}, {1, 780, 1020}, {1, 540, 720}}, {20000, 19000, 20000});
  ASSERT_EQ(calendar.week().size(), 3u);
  EXPECT_EQ(calendar.week()[0].start_minute, 540);
  EXPECT_EQ(calendar.week()[1].start_minute, 780);
  EXPECT_EQ(calendar.week()[2].iso_weekday, 3);
  EXPECT_EQ(calendar.holidays(), (std::vector<sla::LocalDate>{19000, 20000}));
  EXPECT_EQ(calendar.time_zone(), kBerlin);
}

// ---- property: the cached ranges agree with a minute-by-minute walk ---------------------------

namespace {

// Working minutes of a span, found the slow and obvious way: a UTC minute is working time when
// its local wall time falls in an interval on a local date that is not a holiday.
struct MinuteReference {
  Instant begin;
  std::vector<int> worked_before;  // worked_before[m]: working minutes in [begin, begin + m min)

  MinuteReference(const std::string& zone_name, const std::vector<sla::WorkingInterval>& week,
                  const std::vector<sla::LocalDate>& holidays, Instant span_begin, int span_minutes)
      : begin(span_begin), worked_before(span_minutes + 1, 0) {
    const date::time_zone* zone = date::locate_zone(zone_name);
    for (int m = 0; m < span_minutes; ++m) {
      const auto at = date::floor<std::chrono::seconds>(span_begin + minutes{m});
      const auto wall = zone->to_local(at);
      const auto day = date::floor<days>(wall);
      const auto date_number = static_cast<sla::LocalDate>(day.time_since_epoch().count());
      const auto weekday = date::weekday{day}.iso_encoding();
      const auto minute_of_day = static_cast<int>((wall - day) / minutes{1});
      bool working = false;
      if (std::find(holidays.begin(), holidays.end(), date_number) == holidays.end()) {
        for (const auto& interval : week) {
          working = working ||
                    (static_cast<unsigned>(interval.iso_weekday) == weekday &&
                     interval.start_minute <= minute_of_day && minute_of_day < interval.end_minute);
        }
      }
      worked_before[m + 1] = worked_before[m] + (working ? 1 : 0);
    }
  }

  int minutes_of_span() const { return static_cast<int>(worked_before.size()) - 1; }
  Instant at(int minute) const { return begin + minutes{minute}; }
};

// Boundaries near transition hours and midnight turn up far more often than chance would have.
int random_boundary(std::mt19937_64& random) {
  static const int kTricky[] = {0, 30, 60, 90, 120, 150, 180, 210, 240, 1380, 1410, 1440};
  if (std::uniform_int_distribution<int>(0, 1)(random) == 0) {
    return kTricky[std::uniform_int_distribution<std::size_t>(0, std::size(kTricky) - 1)(random)];
  }
  return std::uniform_int_distribution<int>(0, 1440)(random);
}

std::vector<sla::WorkingInterval> random_week(std::mt19937_64& random) {
  std::vector<sla::WorkingInterval> week;
  std::uniform_int_distribution<int> percent(0, 99);
  for (int weekday = 1; weekday <= 7; ++weekday) {
    if (percent(random) >= 75) {
      continue;
    }
    const int count = std::uniform_int_distribution<int>(1, 3)(random);
    std::set<int> boundaries;
    while (static_cast<int>(boundaries.size()) < 2 * count) {
      boundaries.insert(random_boundary(random));
    }
    std::vector<int> sorted(boundaries.begin(), boundaries.end());
    for (int i = 0; i < count; ++i) {
      int start = sorted[2 * static_cast<std::size_t>(i)];
      // Sometimes touch the previous interval.
      if (i > 0 && percent(random) < 30) {
        start = sorted[2 * i - 1];
      }
      week.push_back({weekday, start, sorted[2 * i + 1]});
    }
  }
  if (week.empty()) {
    week.push_back({1, 9 * 60, 17 * 60});
  }
  return week;
}

}  // namespace

TEST(SlaCalendarProperty, AgreesWithAMinuteByMinuteWalk) {
  const char* const kZones[] = {
      "Europe/Berlin", "America/New_York",    "Australia/Sydney", "Asia/Kolkata",
      "UTC",           "Australia/Lord_Howe", "America/Sao_Paulo"};
  // Spans start a few days before a transition in one of the zones, or before a New Year. Sao
  // Paulo switched at midnight in 2018/2019, Lord Howe shifts by 30 minutes.
  const Ymd kAnchors[] = {ymd(2024, 3, 6),   ymd(2024, 3, 27),  ymd(2024, 4, 3),
                          ymd(2024, 10, 2),  ymd(2024, 10, 23), ymd(2024, 10, 30),
                          ymd(2024, 12, 27), ymd(2018, 10, 31), ymd(2019, 2, 13)};
  constexpr int kSpanMinutes = 9 * 24 * 60;
  constexpr int kCalendars = 250;
  constexpr int kQueries = 40;

  std::mt19937_64 random(20240331);
  std::uniform_int_distribution<int> any_minute(0, kSpanMinutes);
  for (int case_number = 0; case_number < kCalendars; ++case_number) {
    const std::string zone = kZones[random() % std::size(kZones)];
    const Ymd anchor = kAnchors[random() % std::size(kAnchors)];
    const Instant span_begin =
        utc(anchor) + minutes{std::uniform_int_distribution<int>(0, 48 * 60)(random)};
    const auto week = random_week(random);
    std::vector<sla::LocalDate> holidays;
    const int holiday_count = std::uniform_int_distribution<int>(0, 3)(random);
    holidays.reserve(static_cast<std::size_t>(holiday_count));
    for (int i = 0; i < holiday_count; ++i) {
      holidays.push_back(local_date(anchor) + std::uniform_int_distribution<int>(-1, 11)(random));
    }
    SCOPED_TRACE("case " + std::to_string(case_number) + " in " + zone + " from " +
                 expense_ops::core::format_iso8601(span_begin));

    const auto calendar = sla::BusinessCalendar::make(zone, week, holidays);
    const MinuteReference reference(zone, week, holidays, span_begin, kSpanMinutes);
    const auto& worked = reference.worked_before;

    for (int query = 0; query < kQueries; ++query) {
      const int from = any_minute(random);
      const int to = any_minute(random);
      const int expected = to > from ? worked[to] - worked[from] : 0;
      ASSERT_EQ(calendar.elapsed(reference.at(from), reference.at(to)), minutes{expected})
          << "elapsed from minute " << from << " to " << to;

      const int budget =
          std::uniform_int_distribution<int>(0, worked.back() - worked[from])(random);
      const auto reached =
          std::lower_bound(worked.begin() + from, worked.end(), worked[from] + budget);
      const int due = static_cast<int>(reached - worked.begin());
      ASSERT_EQ(iso(calendar.add(reference.at(from), minutes{budget})), iso(reference.at(due)))
          << "add " << budget << " minutes from minute " << from;

      const int probe = any_minute(random) % reference.minutes_of_span();
      ASSERT_EQ(calendar.is_working(reference.at(probe)), worked[probe + 1] > worked[probe])
          << "is_working at minute " << probe;
    }
  }
}

// ---- after the last explicit transition: the zoneinfo file's POSIX TZ rule -------------------

// Debian's zoneinfo lists transitions up to 2037; PostgreSQL and glibc continue with the rule at
// the end of the file. The reference instants below are local wall-clock times converted with
// GNU date, `date -u -d 'TZ="Europe/Berlin" 2040-03-25 00:00'`, and agree with python3's
// zoneinfo, which applies the same rule.

TEST(SlaCalendarFarFuture, BerlinOfficeHoursKeepSummerTimeIn2038) {
  // 2038-07-02 is a Friday; 09:00-17:00 CEST is 07:00-15:00 UTC.
  const auto calendar = office();
  const Ymd friday = ymd(2038, 7, 2);
  EXPECT_FALSE(calendar.is_working(utc(friday, 7) - microseconds{1}));
  EXPECT_TRUE(calendar.is_working(utc(friday, 7)));
  EXPECT_TRUE(calendar.is_working(utc(friday, 14, 30)));  // 16:30 CEST
  EXPECT_FALSE(calendar.is_working(utc(friday, 15)));     // 17:00 CEST
  EXPECT_EQ(calendar.elapsed(utc(friday, 6), utc(friday, 12)), hours{5});
  // From 16:00 CEST two working hours run to Monday 10:00 CEST.
  EXPECT_EQ(iso(calendar.add(utc(friday, 14), hours{2})), iso(utc(ymd(2038, 7, 5), 8)));
}

namespace {

struct FarFutureDstDay {
  const char* zone;
  Ymd day;                // a Sunday
  Instant midnight;       // local 00:00 of the day, in UTC
  Instant next_midnight;  // local 00:00 of the next day
  Instant four;           // local 04:00 of the day
  hours one_to_four;      // 01:00-04:00 local in real time
};

const FarFutureDstDay kFarFutureDstDays[] = {
    {"Europe/Berlin", ymd(2040, 3, 25), utc(ymd(2040, 3, 24), 23), utc(ymd(2040, 3, 25), 22),
     utc(ymd(2040, 3, 25), 2), hours{2}},
    {"Europe/Berlin", ymd(2040, 10, 28), utc(ymd(2040, 10, 27), 22), utc(ymd(2040, 10, 28), 23),
     utc(ymd(2040, 10, 28), 3), hours{4}},
    {"Australia/Sydney", ymd(2040, 4, 1), utc(ymd(2040, 3, 31), 13), utc(ymd(2040, 4, 1), 14),
     utc(ymd(2040, 3, 31), 18), hours{4}},
    {"Australia/Sydney", ymd(2040, 10, 7), utc(ymd(2040, 10, 6), 14), utc(ymd(2040, 10, 7), 13),
     utc(ymd(2040, 10, 6), 17), hours{2}},
    // Zones without daylight saving time have a rule without transitions.
    {"Asia/Tokyo", ymd(2040, 7, 1), utc(ymd(2040, 6, 30), 15), utc(ymd(2040, 7, 1), 15),
     utc(ymd(2040, 6, 30), 19), hours{3}},
    {"UTC", ymd(2040, 7, 1), utc(ymd(2040, 7, 1)), utc(ymd(2040, 7, 2)), utc(ymd(2040, 7, 1), 4),
     hours{3}},
};

}  // namespace

TEST(SlaCalendarFarFuture, DaylightSavingTransitionsIn2040) {
  for (const auto& dst : kFarFutureDstDays) {
    SCOPED_TRACE(std::string(dst.zone) + " " + date::format("%F", date::sys_days{dst.day}));
    const Instant week_before = dst.midnight - days{5};
    const auto sundays = sla::BusinessCalendar::make(dst.zone, {{7, 0, 24 * 60}});
    EXPECT_EQ(sundays.elapsed(week_before, dst.midnight + days{5}),
              dst.next_midnight - dst.midnight);
    EXPECT_EQ(iso(sundays.add(week_before, microseconds{1})), iso(dst.midnight + microseconds{1}));
    EXPECT_EQ(iso(sundays.add(week_before, dst.next_midnight - dst.midnight)),
              iso(dst.next_midnight));

    const auto nights = sla::BusinessCalendar::make(dst.zone, {{7, 60, 4 * 60}});
    EXPECT_EQ(nights.elapsed(week_before, dst.midnight + days{5}), dst.one_to_four);
    EXPECT_EQ(iso(nights.add(week_before, dst.one_to_four)), iso(dst.four));
  }
}

TEST(SlaCalendarFarFuture, BerlinFollowsTheEuropeanRuleEveryYearTo2399) {
  // Summer time from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
  // October, so those local days last 23 and 25 hours.
  const auto sundays = sla::BusinessCalendar::make(kBerlin, {{7, 0, 24 * 60}});
  for (int year = 2038; year < 2399; ++year) {
    SCOPED_TRACE(year);
    const auto last_sunday = [year](unsigned month) {
      return Ymd{date::year{year} / date::month{month} / date::Sunday[date::last]};
    };
    const Ymd spring = last_sunday(3);
    const Ymd autumn = last_sunday(10);
    ASSERT_EQ(iso(sundays.add(utc(spring) - days{1}, hours{23})), iso(utc(spring, 22)));
    ASSERT_EQ(sundays.elapsed(utc(spring) - days{1}, utc(spring) + days{1}), hours{23});
    ASSERT_EQ(iso(sundays.add(utc(autumn) - days{1}, hours{25})), iso(utc(autumn, 23)));
    ASSERT_EQ(sundays.elapsed(utc(autumn) - days{1}, utc(autumn) + days{1}), hours{25});
  }
}

TEST(SlaCalendarFarFuture, ZonesWhoseRuleCannotBeReadStillWork) {
  // Greenland's rule switches at -1:00 local time, which ptz.h does not read: past 2037 these
  // calendars keep the last explicit offset (UTC-2) rather than refuse to work.
  for (const char* zone : {"America/Nuuk", "America/Scoresbysund"}) {
    SCOPED_TRACE(zone);
    const auto calendar = sla::BusinessCalendar::make(zone, every_weekday(0, 24 * 60, 7));
    EXPECT_EQ(calendar.elapsed(utc(ymd(2040, 7, 1)), utc(ymd(2040, 7, 2))), hours{24});
  }
}
