#include "worker/backup/backup_policy.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <date/tz.h>
#include <gtest/gtest.h>

namespace backup = expense_ops::worker::backup;
using backup::LastAttempt;
using backup::RetainedBackup;
using backup::RowCountVerdict;
using backup::TimeOfDay;
using backup::WallTime;
using expense_ops::worker::ConfigError;
using expense_ops::worker::Seconds;
using std::chrono::hours;
using std::chrono::minutes;

namespace {

using date::days;
using Ymd = date::year_month_day;

Ymd ymd(int year, unsigned month, unsigned day) {
  return Ymd{date::year{year}, date::month{month}, date::day{day}};
}

WallTime utc(Ymd day, int hour = 0, int minute = 0, int second = 0) {
  return date::sys_days{day} + hours{hour} + minutes{minute} + std::chrono::seconds{second};
}

const date::time_zone& zone(const char* name) {
  return *date::locate_zone(name);
}

// Instants print as raw bytes in a failed expectation; their ISO form says more.
std::string iso(WallTime instant) {
  return date::format("%FT%TZ", date::floor<std::chrono::seconds>(instant));
}

std::string slot_of(WallTime now, TimeOfDay at, const char* zone_name) {
  return iso(backup::latest_daily_slot(now, at, zone(zone_name)));
}

// The ConfigError's message of parse_time_of_day(text), or "accepted".
std::string refusal_of(const std::string& text) {
  try {
    backup::parse_time_of_day(text);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "accepted";
}

}  // namespace

// ---- parse_time_of_day -------------------------------------------------------------------------

TEST(BackupPolicyTimeOfDay, ParsesHoursAndMinutes) {
  const auto check = [](const std::string& text, int hour, int minute) {
    const TimeOfDay parsed = backup::parse_time_of_day(text);
    EXPECT_EQ(parsed.hour, hour) << text;
    EXPECT_EQ(parsed.minute, minute) << text;
  };
  check("02:00", 2, 0);
  check("2:05", 2, 5);
  check("23:59", 23, 59);
  check("00:00", 0, 0);
  check("0:00", 0, 0);
  check("12:30", 12, 30);
  check("19:09", 19, 9);
  check("20:45", 20, 45);
}

TEST(BackupPolicyTimeOfDay, DefaultIsTwoInTheMorning) {
  const TimeOfDay fallback;
  EXPECT_EQ(fallback.hour, 2);
  EXPECT_EQ(fallback.minute, 0);
}

TEST(BackupPolicyTimeOfDay, RefusesAnythingButHhMm) {
  const std::vector<std::string> refused = {
      "24:00",   "12:60", "",      "2",     "02:00:00",  " 02:00",
      "02:00 ",  "ab:cd", "-1:00", "02:0",  "2:5",       "002:00",
      "02-00",   "02.00", "02h00", "+2:00", "25:00",     "99:99",
      "02:00\n", ":",     "02:",   ":30",   "１２:００", std::string("02:00\0", 6)};
  for (const std::string& text : refused) {
    EXPECT_NE(refusal_of(text), "accepted") << '"' << text << '"';
  }
}

TEST(BackupPolicyTimeOfDay, RefusalNamesTheOptionAndTheForm) {
  const std::string message = refusal_of("24:00");
  EXPECT_NE(message.find("backup-time"), std::string::npos) << message;
  EXPECT_NE(message.find("HH:MM"), std::string::npos) << message;
}

TEST(BackupPolicyTimeOfDay, EveryValidTimeOfTheDayParsesToItself) {
  for (int hour = 0; hour < 24; ++hour) {
    for (int minute = 0; minute < 60; ++minute) {
      char text[8];
      std::snprintf(text, sizeof text, "%02d:%02d", hour, minute);
      const TimeOfDay parsed = backup::parse_time_of_day(text);
      ASSERT_EQ(parsed.hour, hour) << text;
      ASSERT_EQ(parsed.minute, minute) << text;
    }
  }
}

// ---- latest_daily_slot -------------------------------------------------------------------------

TEST(BackupPolicySlot, TodaysSlotOnceItHasPassed) {
  const TimeOfDay at{2, 30};
  // 2024-06-03, CEST (+02:00): 02:30 local is 00:30 UTC.
  EXPECT_EQ(slot_of(utc(ymd(2024, 6, 3), 10), at, "Europe/Berlin"), "2024-06-03T00:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 6, 3), 21, 59), at, "Europe/Berlin"), "2024-06-03T00:30:00Z");
  // Local 01:59 on 2024-06-04 is still 2024-06-03 in UTC.
  EXPECT_EQ(slot_of(utc(ymd(2024, 6, 3), 23, 59), at, "Europe/Berlin"), "2024-06-03T00:30:00Z");
}

TEST(BackupPolicySlot, YesterdaysSlotBeforeTodaysHasCome) {
  const TimeOfDay at{2, 30};
  EXPECT_EQ(slot_of(utc(ymd(2024, 6, 3), 0, 29), at, "Europe/Berlin"), "2024-06-02T00:30:00Z");
  // Just after local midnight.
  EXPECT_EQ(slot_of(utc(ymd(2024, 6, 2), 22, 0), at, "Europe/Berlin"), "2024-06-02T00:30:00Z");
}

TEST(BackupPolicySlot, TheSlotInstantItselfIsTheSlot) {
  const TimeOfDay at{2, 30};
  const auto& berlin = zone("Europe/Berlin");
  const WallTime slot = utc(ymd(2024, 6, 3), 0, 30);
  EXPECT_EQ(backup::latest_daily_slot(slot, at, berlin), slot);
  EXPECT_EQ(iso(backup::latest_daily_slot(slot - std::chrono::nanoseconds(1), at, berlin)),
            "2024-06-02T00:30:00Z");
  EXPECT_EQ(backup::latest_daily_slot(slot + std::chrono::milliseconds(500), at, berlin), slot);
}

TEST(BackupPolicySlot, TheSlotIsAWholeMinuteWhateverTheSubSecondsOfNow) {
  const auto& berlin = zone("Europe/Berlin");
  const WallTime now = utc(ymd(2024, 6, 3), 12) + std::chrono::microseconds(123456);
  const WallTime slot = backup::latest_daily_slot(now, TimeOfDay{11, 15}, berlin);
  EXPECT_EQ(slot, utc(ymd(2024, 6, 3), 9, 15));
  EXPECT_EQ(slot.time_since_epoch() % minutes{1}, WallTime::duration::zero());
}

TEST(BackupPolicySlot, WinterTimeUsesTheStandardOffset) {
  // 2024-01-15, CET (+01:00).
  EXPECT_EQ(slot_of(utc(ymd(2024, 1, 15), 12), TimeOfDay{2, 30}, "Europe/Berlin"),
            "2024-01-15T01:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 1, 15), 12), TimeOfDay{2, 30}, "America/New_York"),
            "2024-01-15T07:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 1, 15), 12), TimeOfDay{2, 30}, "UTC"), "2024-01-15T02:30:00Z");
}

TEST(BackupPolicySlot, MidnightInUtc) {
  const TimeOfDay midnight{0, 0};
  EXPECT_EQ(slot_of(utc(ymd(2024, 1, 1)), midnight, "UTC"), "2024-01-01T00:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 1, 1), 23, 59), midnight, "UTC"), "2024-01-01T00:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2023, 12, 31), 23, 59, 59), midnight, "UTC"), "2023-12-31T00:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 1)), TimeOfDay{23, 59}, "UTC"), "2024-02-29T23:59:00Z");
}

TEST(BackupPolicySlot, TimeSkippedBySpringForwardRunsAtTheEndOfTheGap) {
  // Europe/Berlin 2024-03-31: 02:00 CET becomes 03:00 CEST at 01:00 UTC; 02:30 does not exist.
  const TimeOfDay at{2, 30};
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 31), 1), at, "Europe/Berlin"), "2024-03-31T01:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 31), 0, 59, 59), at, "Europe/Berlin"), "2024-03-30T01:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 31), 20), at, "Europe/Berlin"), "2024-03-31T01:00:00Z");
  // The next day it is 02:30 CEST again, 23.5 hours later.
  EXPECT_EQ(slot_of(utc(ymd(2024, 4, 1), 0, 30), at, "Europe/Berlin"), "2024-04-01T00:30:00Z");
  // The start of the gap, 02:00, does not exist either.
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 31), 12), TimeOfDay{2, 0}, "Europe/Berlin"),
            "2024-03-31T01:00:00Z");
  // Its end, 03:00, exists: the same instant, by the clock.
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 31), 12), TimeOfDay{3, 0}, "Europe/Berlin"),
            "2024-03-31T01:00:00Z");
  // 01:59 is before the gap.
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 31), 12), TimeOfDay{1, 59}, "Europe/Berlin"),
            "2024-03-31T00:59:00Z");

  // America/New_York 2024-03-10: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 10), 12), at, "America/New_York"), "2024-03-10T07:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 3, 10), 6, 59), at, "America/New_York"), "2024-03-09T07:30:00Z");

  // Australia/Lord_Howe 2024-10-06: a 30-minute shift, 02:00 +10:30 becomes 02:30 +11:00 at
  // 15:30 UTC the day before; 02:15 does not exist, 02:30 does.
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 6), 0), TimeOfDay{2, 15}, "Australia/Lord_Howe"),
            "2024-10-05T15:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 6), 0), TimeOfDay{2, 30}, "Australia/Lord_Howe"),
            "2024-10-05T15:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 5), 15, 29), TimeOfDay{2, 15}, "Australia/Lord_Howe"),
            "2024-10-04T15:45:00Z");
}

TEST(BackupPolicySlot, TimeRepeatedByFallBackRunsAtTheFirstOfTheTwo) {
  // Europe/Berlin 2024-10-27: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:30 happens at
  // 00:30 UTC (CEST) and again at 01:30 UTC (CET).
  const TimeOfDay at{2, 30};
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 27), 0, 30), at, "Europe/Berlin"), "2024-10-27T00:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 27), 1, 30), at, "Europe/Berlin"), "2024-10-27T00:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 27), 1, 45), at, "Europe/Berlin"), "2024-10-27T00:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 27), 0, 29), at, "Europe/Berlin"), "2024-10-26T00:30:00Z");
  // The next day, 02:30 CET: 25 hours after.
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 28), 1, 29), at, "Europe/Berlin"), "2024-10-27T00:30:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 10, 28), 1, 30), at, "Europe/Berlin"), "2024-10-28T01:30:00Z");

  // America/New_York 2024-11-03: 01:30 at 05:30 UTC (EDT) and 06:30 UTC (EST).
  EXPECT_EQ(slot_of(utc(ymd(2024, 11, 3), 7), TimeOfDay{1, 30}, "America/New_York"),
            "2024-11-03T05:30:00Z");

  // Australia/Lord_Howe 2024-04-07: 02:00 +11:00 becomes 01:30 +10:30 at 15:00 UTC the day
  // before; 01:45 is at 14:45 UTC (+11:00) and again at 15:15 UTC (+10:30).
  EXPECT_EQ(slot_of(utc(ymd(2024, 4, 6), 15, 20), TimeOfDay{1, 45}, "Australia/Lord_Howe"),
            "2024-04-06T14:45:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 4, 6), 14, 44), TimeOfDay{1, 45}, "Australia/Lord_Howe"),
            "2024-04-05T14:45:00Z");
}

TEST(BackupPolicySlot, MidnightSkippedInSantiagoRunsAtOneInTheMorning) {
  // America/Santiago 2024-09-08: 00:00 -04 becomes 01:00 -03 at 04:00 UTC, so that local day
  // begins at 01:00 and has no midnight; 2024-04-06 has 23:00-24:00 twice.
  EXPECT_EQ(slot_of(utc(ymd(2024, 9, 8), 4), TimeOfDay{0, 0}, "America/Santiago"),
            "2024-09-08T04:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 9, 8), 3, 59), TimeOfDay{0, 0}, "America/Santiago"),
            "2024-09-07T04:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 9, 8), 4), TimeOfDay{0, 30}, "America/Santiago"),
            "2024-09-08T04:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2024, 4, 7), 3, 40), TimeOfDay{23, 30}, "America/Santiago"),
            "2024-04-07T02:30:00Z");
}

TEST(BackupPolicySlot, ADaySkippedWholeInSamoa) {
  // Pacific/Apia went from 2011-12-29 24:00 -10 to 2011-12-31 00:00 +14: no 2011-12-30 at all.
  // The slot of that day is the end of the gap, which the slot of 12-31 then follows.
  const TimeOfDay at{2, 0};
  EXPECT_EQ(slot_of(utc(ymd(2011, 12, 30), 10, 30), at, "Pacific/Apia"), "2011-12-30T10:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2011, 12, 30), 9, 59), at, "Pacific/Apia"), "2011-12-29T12:00:00Z");
  EXPECT_EQ(slot_of(utc(ymd(2011, 12, 30), 12), at, "Pacific/Apia"), "2011-12-30T12:00:00Z");
}

namespace {

struct SlotCase {
  const char* zone;
  TimeOfDay at;
};

// Walks `step` by `step` from `from` to `to`, and checks latest_daily_slot() at each instant
// against a cron-like oracle that knows nothing of zone offsets: the slot of local day D is the
// first instant whose local time is D + `at` or later (so the end of a gap that skips it, the first
// of two when it repeats). The oracle is exact when every slot and every transition fall on the
// walk's grid: `at` and `from` are whole multiples of `step`, as are all UTC offsets.
void walk(const SlotCase& c, WallTime from, WallTime to, minutes step) {
  const date::time_zone& tz = zone(c.zone);
  const auto at = hours{c.at.hour} + minutes{c.at.minute};
  const auto local_of = [&](WallTime t) {
    return tz.to_local(date::floor<std::chrono::seconds>(t));
  };
  date::local_days next_day = date::floor<days>(local_of(from));
  if (local_of(from) >= next_day + at) {
    next_day += days{1};  // today's fired before the walk began: not known when
  }
  std::optional<WallTime> expected;
  std::optional<WallTime> previous;
  int fired = 0;
  for (WallTime now = from; now <= to; now += step) {
    bool fires_now = false;
    while (local_of(now) >= next_day + at) {
      previous = expected;
      expected = now;
      fires_now = true;
      next_day += days{1};
      ++fired;
    }
    if (!expected) {
      continue;
    }
    // Instants are compared as they are, and printed in ISO form only when that fails.
    const WallTime slot = backup::latest_daily_slot(now, c.at, tz);
    ASSERT_EQ(slot, *expected) << c.zone << " now " << iso(now) << ": " << iso(slot)
                               << " instead of " << iso(*expected);
    ASSERT_LE(slot, now) << c.zone << " now " << iso(now);
    ASSERT_LT(now - slot, hours{25}) << c.zone << " now " << iso(now);
    if (!fires_now) {
      continue;  // the same slot as at the step before
    }
    // The slot is `at` on its local day, or that day has no `at` and the slot is where the clock
    // jumped past it.
    const auto slot_local = local_of(slot);
    const auto slot_day = date::floor<days>(slot_local);
    if (slot_local - slot_day != at) {
      const auto skipped_day = slot_local - slot_day < at ? slot_day - days{1} : slot_day;
      const date::local_info info = tz.get_info(skipped_day + at);
      ASSERT_EQ(info.result, date::local_info::nonexistent) << c.zone << " now " << iso(now);
      ASSERT_EQ(WallTime{info.second.begin}, slot) << c.zone << " now " << iso(now);
    } else {
      // When `at` repeats that day, the first of the two.
      ASSERT_EQ(
          WallTime{date::make_zoned(&tz, slot_day + at, date::choose::earliest).get_sys_time()},
          slot)
          << c.zone << " now " << iso(now);
    }
    if (previous) {
      // The instant before a slot still has the one before.
      const WallTime before =
          backup::latest_daily_slot(now - std::chrono::nanoseconds(1), c.at, tz);
      ASSERT_EQ(before, *previous) << c.zone << " now " << iso(now) << ": " << iso(before);
    }
  }
  const auto walked_days = date::floor<days>(to - from).count();
  EXPECT_GE(fired, walked_days - 1) << c.zone;
  EXPECT_LE(fired, walked_days + 1) << c.zone;
}

}  // namespace

TEST(BackupPolicySlot, EveryFiveMinutesOfAYearMatchesTheOracle) {
  // Times the DST changes of 2024 skip or repeat, and midnight.
  const std::vector<SlotCase> cases = {
      {"Europe/Berlin", {2, 30}},
      {"Europe/Berlin", {0, 0}},
      {"America/New_York", {2, 30}},
      {"America/New_York", {1, 30}},
      {"Australia/Lord_Howe", {2, 10}},
      {"Australia/Lord_Howe", {1, 40}},
      {"America/Santiago", {0, 0}},
      {"America/Santiago", {23, 30}},
      {"UTC", {0, 0}},
      {"UTC", {2, 30}},
  };
  for (const SlotCase& c : cases) {
    walk(c, utc(ymd(2024, 1, 1)), utc(ymd(2025, 1, 1)), minutes{5});
  }
}

TEST(BackupPolicySlot, EveryMinuteAroundTheClockChangesMatchesTheOracle) {
  struct Around {
    SlotCase c;
    Ymd day;  // UTC; walked from the day before to the day after
  };
  const std::vector<Around> changes = {
      {{"Europe/Berlin", {2, 30}}, ymd(2024, 3, 31)},
      {{"Europe/Berlin", {2, 30}}, ymd(2024, 10, 27)},
      {{"Europe/Berlin", {2, 0}}, ymd(2024, 3, 31)},
      {{"Europe/Berlin", {2, 59}}, ymd(2024, 10, 27)},
      {{"America/New_York", {2, 30}}, ymd(2024, 3, 10)},
      {{"America/New_York", {1, 30}}, ymd(2024, 11, 3)},
      {{"Australia/Lord_Howe", {2, 15}}, ymd(2024, 10, 5)},
      {{"Australia/Lord_Howe", {1, 45}}, ymd(2024, 4, 6)},
      {{"Australia/Lord_Howe", {2, 29}}, ymd(2024, 10, 5)},
      {{"America/Santiago", {0, 0}}, ymd(2024, 9, 8)},
      {{"America/Santiago", {0, 59}}, ymd(2024, 9, 8)},
      {{"America/Santiago", {23, 30}}, ymd(2024, 4, 7)},
      {{"Pacific/Apia", {2, 0}}, ymd(2011, 12, 30)},
      {{"Pacific/Apia", {23, 59}}, ymd(2011, 12, 30)},
  };
  for (const Around& around : changes) {
    const WallTime day = utc(around.day);
    walk(around.c, day - days{2}, day + days{3}, minutes{1});
  }
}

// ---- backup_due --------------------------------------------------------------------------------

namespace {

const WallTime kSlot = utc(ymd(2024, 6, 3), 0, 30);  // today's 02:30 in Berlin
const Seconds kRetry{3600};

WallTime after_slot(minutes later) {
  return kSlot + later;
}

LastAttempt succeeded(WallTime started) {
  return LastAttempt{started, false};
}
LastAttempt failed(WallTime started) {
  return LastAttempt{started, true};
}

}  // namespace

TEST(BackupPolicyDue, NoAttemptEverIsDueAtOnce) {
  EXPECT_TRUE(
      backup::backup_due(after_slot(minutes{1}), kSlot, std::nullopt, std::nullopt, false, kRetry));
  // Whenever that is, even long before the slot.
  EXPECT_TRUE(backup::backup_due(kSlot - hours{20}, kSlot - hours{24}, std::nullopt, std::nullopt,
                                 false, kRetry));
}

TEST(BackupPolicyDue, ASuccessInTheCurrentSlotSatisfiesIt) {
  const WallTime started = after_slot(minutes{1});
  EXPECT_FALSE(backup::backup_due(after_slot(minutes{90}), kSlot, succeeded(started), started, true,
                                  kRetry));
  // Up to just before the next slot.
  EXPECT_FALSE(backup::backup_due(kSlot + hours{23} + minutes{59}, kSlot, succeeded(started),
                                  started, true, kRetry));
}

TEST(BackupPolicyDue, ASuccessThatStartedAtTheSlotItselfSatisfiesIt) {
  EXPECT_FALSE(
      backup::backup_due(after_slot(minutes{60}), kSlot, succeeded(kSlot), kSlot, true, kRetry));
  const WallTime just_before = kSlot - std::chrono::nanoseconds(1);
  EXPECT_TRUE(backup::backup_due(after_slot(minutes{60}), kSlot, succeeded(just_before),
                                 just_before, true, kRetry));
}

TEST(BackupPolicyDue, ASuccessBeforeTheSlotIsDueAtTheSlot) {
  const WallTime yesterday = kSlot - hours{24};
  EXPECT_TRUE(backup::backup_due(kSlot, kSlot, succeeded(yesterday), yesterday, true, kRetry));
  EXPECT_TRUE(backup::backup_due(after_slot(minutes{5}), kSlot, succeeded(yesterday), yesterday,
                                 true, kRetry));
  // A success that started just before the slot and ended after it is the last slot's.
  const WallTime just_before = kSlot - minutes{1};
  EXPECT_TRUE(backup::backup_due(after_slot(minutes{30}), kSlot, succeeded(just_before),
                                 just_before, true, kRetry));
}

TEST(BackupPolicyDue, NoUsableBackupIsDueEvenWithASuccessInTheSlot) {
  // This slot's backup succeeded, then expired or failed its verification.
  const WallTime started = after_slot(minutes{1});
  EXPECT_TRUE(backup::backup_due(after_slot(minutes{90}), kSlot, succeeded(started), started, false,
                                 kRetry));
  // The same with the success before the slot.
  const WallTime yesterday = kSlot - hours{24};
  EXPECT_TRUE(backup::backup_due(after_slot(minutes{90}), kSlot, succeeded(yesterday), yesterday,
                                 false, kRetry));
}

TEST(BackupPolicyDue, AFailureWaitsItsRetryDelay) {
  const WallTime yesterday = kSlot - hours{24};
  const WallTime attempt = after_slot(minutes{1});
  EXPECT_FALSE(
      backup::backup_due(after_slot(minutes{2}), kSlot, failed(attempt), yesterday, true, kRetry));
  EXPECT_FALSE(
      backup::backup_due(attempt + minutes{59}, kSlot, failed(attempt), yesterday, true, kRetry));
  EXPECT_FALSE(backup::backup_due(attempt + hours{1} - std::chrono::nanoseconds(1), kSlot,
                                  failed(attempt), yesterday, true, kRetry));
  // Exactly the retry delay after, and later.
  EXPECT_TRUE(
      backup::backup_due(attempt + hours{1}, kSlot, failed(attempt), yesterday, true, kRetry));
  EXPECT_TRUE(
      backup::backup_due(attempt + hours{5}, kSlot, failed(attempt), yesterday, true, kRetry));
}

TEST(BackupPolicyDue, AFailureWithNoBackupAtAllWaitsItsRetryDelayToo) {
  const WallTime attempt = after_slot(minutes{1});
  EXPECT_FALSE(backup::backup_due(attempt + minutes{30}, kSlot, failed(attempt), std::nullopt,
                                  false, kRetry));
  EXPECT_TRUE(backup::backup_due(attempt + minutes{60}, kSlot, failed(attempt), std::nullopt, false,
                                 kRetry));
}

TEST(BackupPolicyDue, AFailureAfterASuccessInTheSameSlotIsNotRetried) {
  const WallTime success = after_slot(minutes{1});
  const WallTime failure = after_slot(minutes{120});  // a backup on demand that failed
  for (const minutes later : {minutes{121}, minutes{300}, minutes{23 * 60}}) {
    EXPECT_FALSE(
        backup::backup_due(after_slot(later), kSlot, failed(failure), success, true, kRetry))
        << later.count();
  }
}

TEST(BackupPolicyDue, AFailureInTheLastSlotDoesNotHoldBackThisOne) {
  const WallTime two_days_ago = kSlot - hours{48};
  const WallTime failure = kSlot - hours{3};
  EXPECT_TRUE(backup::backup_due(kSlot, kSlot, failed(failure), two_days_ago, true, kRetry));
  // A retry delay longer than that still holds.
  EXPECT_FALSE(
      backup::backup_due(kSlot, kSlot, failed(failure), two_days_ago, true, Seconds{4 * 3600}));
}

TEST(BackupPolicyDue, FractionalAndZeroRetryDelays) {
  const WallTime yesterday = kSlot - hours{24};
  const WallTime attempt = after_slot(minutes{1});
  const Seconds ninety_and_a_half{90.5};
  EXPECT_FALSE(backup::backup_due(attempt + std::chrono::seconds{90}, kSlot, failed(attempt),
                                  yesterday, true, ninety_and_a_half));
  EXPECT_TRUE(backup::backup_due(attempt + std::chrono::milliseconds{90500}, kSlot, failed(attempt),
                                 yesterday, true, ninety_and_a_half));
  EXPECT_TRUE(backup::backup_due(attempt, kSlot, failed(attempt), yesterday, true, Seconds{0}));
}

// ---- restore_test_due --------------------------------------------------------------------------

namespace {

const WallTime kNow = utc(ymd(2024, 6, 10), 12);
const Seconds kWeek{7.0 * 86400};

}  // namespace

TEST(BackupPolicyRestoreTest, NeverWithoutAVerifiedBackup) {
  EXPECT_FALSE(backup::restore_test_due(kNow, std::nullopt, kWeek, false));
  EXPECT_FALSE(backup::restore_test_due(kNow, kNow - days{60}, kWeek, false));
  EXPECT_FALSE(backup::restore_test_due(kNow, kNow - days{7}, kWeek, false));
}

TEST(BackupPolicyRestoreTest, NeverTestedIsDueAtOnce) {
  EXPECT_TRUE(backup::restore_test_due(kNow, std::nullopt, kWeek, true));
}

TEST(BackupPolicyRestoreTest, TestedWithinEveryIsNotDue) {
  EXPECT_FALSE(backup::restore_test_due(kNow, kNow, kWeek, true));
  EXPECT_FALSE(backup::restore_test_due(kNow, kNow - days{1}, kWeek, true));
  EXPECT_FALSE(
      backup::restore_test_due(kNow, kNow - days{7} + std::chrono::nanoseconds(1), kWeek, true));
}

TEST(BackupPolicyRestoreTest, DueExactlyAtEveryAndLater) {
  EXPECT_TRUE(backup::restore_test_due(kNow, kNow - days{7}, kWeek, true));
  EXPECT_TRUE(backup::restore_test_due(kNow, kNow - days{30}, kWeek, true));
  // A fractional interval.
  EXPECT_FALSE(
      backup::restore_test_due(kNow, kNow - std::chrono::milliseconds{1499}, Seconds{1.5}, true));
  EXPECT_TRUE(
      backup::restore_test_due(kNow, kNow - std::chrono::milliseconds{1500}, Seconds{1.5}, true));
}

// ---- backups_to_expire -------------------------------------------------------------------------

namespace {

const Seconds kKeep{30.0 * 86400};

RetainedBackup full(std::int64_t id, WallTime restorable_at, bool verified = false) {
  return RetainedBackup{id, "full", verified, restorable_at, std::nullopt};
}
RetainedBackup diff(std::int64_t id, std::int64_t of, WallTime restorable_at,
                    bool verified = false) {
  return RetainedBackup{id, "diff", verified, restorable_at, of};
}
WallTime days_ago(int count) {
  return kNow - days{count};
}

using Ids = std::vector<std::int64_t>;

}  // namespace

TEST(BackupPolicyRetention, NothingToExpireInNothing) {
  EXPECT_EQ(backup::backups_to_expire({}, kNow, kKeep), Ids{});
}

TEST(BackupPolicyRetention, TheOnlyBackupStaysHoweverOld) {
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(400))}, kNow, kKeep), Ids{});
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(400), true)}, kNow, kKeep), Ids{});
}

TEST(BackupPolicyRetention, RecentBackupsStay) {
  EXPECT_EQ(
      backup::backups_to_expire(
          {full(1, days_ago(20), true), full(2, days_ago(10)), full(3, days_ago(0))}, kNow, kKeep),
      Ids{});
}

TEST(BackupPolicyRetention, OldBackupsGoWhenANewerVerifiedOneStays) {
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(90), true), full(2, days_ago(60), true),
                                       full(3, days_ago(40)), full(4, days_ago(5), true)},
                                      kNow, kKeep),
            (Ids{1, 2, 3}));
}

TEST(BackupPolicyRetention, AllOldAndNoneVerifiedKeepsTheNewest) {
  EXPECT_EQ(backup::backups_to_expire(
                {full(1, days_ago(90)), full(2, days_ago(40)), full(3, days_ago(60))}, kNow, kKeep),
            (Ids{1, 3}));
  // When the newest is a diff, its full stays with it.
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(90)), full(2, days_ago(60)),
                                       diff(3, 2, days_ago(45)), diff(4, 1, days_ago(80))},
                                      kNow, kKeep),
            (Ids{1, 4}));
}

TEST(BackupPolicyRetention, TheNewestVerifiedStaysEvenIfOldWhileNewerOnesAreUnverified) {
  // 3 and 4 are recent but not (yet) verified: 2 is the newest that is known to restore.
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(90), true), full(2, days_ago(45), true),
                                       full(3, days_ago(3)), full(4, days_ago(1))},
                                      kNow, kKeep),
            (Ids{1}));
  // An unverified one that is older than it still goes.
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(50)), full(2, days_ago(45), true),
                                       full(3, days_ago(40)), full(4, days_ago(1))},
                                      kNow, kKeep),
            (Ids{1, 3}));
}

TEST(BackupPolicyRetention, ADiffThatStaysKeepsItsFull) {
  // The full is old, its diff recent.
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(40), true), diff(2, 1, days_ago(10))}, kNow,
                                      kKeep),
            Ids{});
  EXPECT_EQ(
      backup::backups_to_expire(
          {full(1, days_ago(40)), diff(2, 1, days_ago(10)), full(3, days_ago(50))}, kNow, kKeep),
      (Ids{3}));
  // The full listed after its diff.
  EXPECT_EQ(
      backup::backups_to_expire(
          {diff(2, 1, days_ago(10)), full(3, days_ago(50)), full(1, days_ago(40))}, kNow, kKeep),
      (Ids{3}));
  // The newest verified is an old diff: it stays, so does its full, not the other diff.
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(60)), diff(2, 1, days_ago(55)),
                                       diff(3, 1, days_ago(50), true), full(4, days_ago(2))},
                                      kNow, kKeep),
            (Ids{2}));
}

TEST(BackupPolicyRetention, AnOldFullGoesWithItsOldDiffs) {
  EXPECT_EQ(backup::backups_to_expire({full(1, days_ago(60), true), diff(2, 1, days_ago(55), true),
                                       diff(3, 1, days_ago(50), true), full(4, days_ago(20), true),
                                       diff(5, 4, days_ago(10), true)},
                                      kNow, kKeep),
            (Ids{1, 2, 3}));
}

TEST(BackupPolicyRetention, TheResultIsInTheOrderGiven) {
  const std::vector<RetainedBackup> backups = {full(7, days_ago(50)),      full(3, days_ago(70)),
                                               full(9, days_ago(5), true), full(1, days_ago(90)),
                                               diff(5, 3, days_ago(65)),   full(2, days_ago(31))};
  EXPECT_EQ(backup::backups_to_expire(backups, kNow, kKeep), (Ids{7, 3, 1, 5, 2}));
  std::vector<RetainedBackup> reversed(backups.rbegin(), backups.rend());
  EXPECT_EQ(backup::backups_to_expire(reversed, kNow, kKeep), (Ids{2, 5, 1, 3, 7}));
}

TEST(BackupPolicyRetention, RestorableExactlyAtTheCutoffStays) {
  const WallTime cutoff = kNow - days{30};
  EXPECT_EQ(backup::backups_to_expire({full(1, cutoff), full(2, cutoff - std::chrono::seconds{1}),
                                       full(3, days_ago(1), true)},
                                      kNow, kKeep),
            (Ids{2}));
  EXPECT_EQ(backup::backups_to_expire(
                {full(1, cutoff - std::chrono::nanoseconds{1}),
                 full(2, cutoff + std::chrono::nanoseconds{1}), full(3, days_ago(1), true)},
                kNow, kKeep),
            (Ids{1}));
}

TEST(BackupPolicyRetention, ShorterAndLongerKeepFor) {
  const std::vector<RetainedBackup> backups = {full(1, days_ago(10)), full(2, days_ago(5)),
                                               full(3, days_ago(1), true)};
  EXPECT_EQ(backup::backups_to_expire(backups, kNow, Seconds{3.0 * 86400}), (Ids{1, 2}));
  EXPECT_EQ(backup::backups_to_expire(backups, kNow, Seconds{7.0 * 86400}), (Ids{1}));
  EXPECT_EQ(backup::backups_to_expire(backups, kNow, Seconds{365.0 * 86400}), Ids{});
  // Keep for nothing: only the newest verified stays.
  EXPECT_EQ(backup::backups_to_expire(backups, kNow, Seconds{0}), (Ids{1, 2}));
}

TEST(BackupPolicyRetention, RandomSetsKeepTheirPromises) {
  std::mt19937 random(20240603);
  const WallTime cutoff = kNow - days{30};
  for (int round = 0; round < 2000; ++round) {
    std::vector<RetainedBackup> backups;
    std::vector<std::int64_t> fulls;
    const int count = std::uniform_int_distribution<int>(0, 8)(random);
    std::set<int> used_hours;
    for (int i = 0; i < count; ++i) {
      int hours_ago;
      do {
        hours_ago = std::uniform_int_distribution<int>(0, 24 * 90)(random);
      } while (!used_hours.insert(hours_ago).second);  // distinct: "the newest" is one
      const WallTime at = kNow - hours{hours_ago};
      const bool verified = std::uniform_int_distribution<int>(0, 3)(random) == 0;
      const std::int64_t id = 100 + i;
      if (!fulls.empty() && std::uniform_int_distribution<int>(0, 1)(random) == 1) {
        const std::int64_t of =
            fulls[std::uniform_int_distribution<std::size_t>(0, fulls.size() - 1)(random)];
        backups.push_back(diff(id, of, at, verified));
      } else {
        backups.push_back(full(id, at, verified));
        fulls.push_back(id);
      }
    }
    std::shuffle(backups.begin(), backups.end(), random);
    const Ids expired = backup::backups_to_expire(backups, kNow, kKeep);
    const std::set<std::int64_t> gone(expired.begin(), expired.end());
    ASSERT_EQ(gone.size(), expired.size()) << "round " << round;

    // In the order given.
    Ids in_order;
    for (const RetainedBackup& b : backups) {
      if (gone.count(b.id) != 0) {
        in_order.push_back(b.id);
      }
    }
    ASSERT_EQ(expired, in_order) << "round " << round;
    if (backups.empty()) {
      continue;
    }
    // Something stays; nothing recent goes; what stays has its full.
    ASSERT_LT(expired.size(), backups.size()) << "round " << round;
    const RetainedBackup* newest_verified = nullptr;
    const RetainedBackup* newest = nullptr;
    for (const RetainedBackup& b : backups) {
      if (gone.count(b.id) != 0) {
        ASSERT_LT(b.restorable_at, cutoff) << "round " << round << " id " << b.id;
      } else if (b.depends_on) {
        ASSERT_EQ(gone.count(*b.depends_on), 0u) << "round " << round << " id " << b.id;
      }
      if (b.verified && (!newest_verified || b.restorable_at > newest_verified->restorable_at)) {
        newest_verified = &b;
      }
      if (!newest || b.restorable_at > newest->restorable_at) {
        newest = &b;
      }
    }
    if (newest_verified) {
      ASSERT_EQ(gone.count(newest_verified->id), 0u) << "round " << round;
    } else {
      ASSERT_EQ(gone.count(newest->id), 0u) << "round " << round;
    }
    // Nothing stays that no rule keeps: an old backup stays only as the newest verified one, the
    // newest of all when none is verified and all are old, or the full of one that stays.
    for (const RetainedBackup& b : backups) {
      if (gone.count(b.id) != 0 || b.restorable_at >= cutoff || &b == newest_verified) {
        continue;
      }
      bool needed = false;
      for (const RetainedBackup& other : backups) {
        needed = needed || (gone.count(other.id) == 0 && other.depends_on == b.id);
      }
      const bool all_old =
          std::all_of(backups.begin(), backups.end(),
                      [&](const RetainedBackup& x) { return x.restorable_at < cutoff; });
      needed =
          needed || (newest_verified == nullptr && all_old && &b == newest) || backups.size() == 1;
      ASSERT_TRUE(needed) << "round " << round << " id " << b.id;
    }
  }
}

// ---- row_count_verdicts ------------------------------------------------------------------------

TEST(BackupPolicyRowCounts, InRangeBelowAboveAndMissing) {
  const std::map<std::string, std::int64_t> low = {{"expense.expenses", 100},
                                                   {"expense.orgs", 5},
                                                   {"iam.users", 40},
                                                   {"ops.tickets", 7},
                                                   {"ops.ticket_events", 70}};
  const std::map<std::string, std::int64_t> high = {{"expense.expenses", 120},
                                                    {"expense.orgs", 5},
                                                    {"iam.users", 42},
                                                    {"ops.tickets", 9},
                                                    {"ops.ticket_events", 75}};
  const std::map<std::string, std::int64_t> restored = {{"expense.expenses", 110},  // within
                                                        {"expense.orgs", 4},        // below
                                                        {"iam.users", 43},          // above
                                                        // ops.tickets: missing
                                                        {"ops.ticket_events", 70}};  // low end
  const auto verdicts = backup::row_count_verdicts(restored, low, high);
  ASSERT_EQ(verdicts.size(), 5u);
  std::map<std::string, RowCountVerdict> by_table;
  for (const auto& verdict : verdicts) {
    by_table[verdict.table] = verdict;
  }
  EXPECT_TRUE(by_table["expense.expenses"].passed());
  ASSERT_TRUE(by_table["expense.expenses"].restored.has_value());
  EXPECT_EQ(*by_table["expense.expenses"].restored, 110);
  EXPECT_EQ(by_table["expense.expenses"].low, 100);
  EXPECT_EQ(by_table["expense.expenses"].high, 120);
  EXPECT_FALSE(by_table["expense.orgs"].passed());
  ASSERT_TRUE(by_table["expense.orgs"].restored.has_value());
  EXPECT_EQ(*by_table["expense.orgs"].restored, 4);
  EXPECT_FALSE(by_table["iam.users"].passed());
  EXPECT_FALSE(by_table["ops.tickets"].passed());
  EXPECT_FALSE(by_table["ops.tickets"].restored.has_value());
  EXPECT_EQ(by_table["ops.tickets"].low, 7);
  EXPECT_EQ(by_table["ops.tickets"].high, 9);
  EXPECT_TRUE(by_table["ops.ticket_events"].passed());
}

TEST(BackupPolicyRowCounts, BothEndsOfTheRangePass) {
  const std::map<std::string, std::int64_t> low = {{"t", 10}};
  const std::map<std::string, std::int64_t> high = {{"t", 20}};
  for (const std::int64_t count : {10, 15, 20}) {
    const auto verdicts = backup::row_count_verdicts({{"t", count}}, low, high);
    ASSERT_EQ(verdicts.size(), 1u);
    EXPECT_TRUE(verdicts[0].passed()) << count;
  }
  for (const std::int64_t count : {9, 21, 0, -1}) {
    const auto verdicts = backup::row_count_verdicts({{"t", count}}, low, high);
    ASSERT_EQ(verdicts.size(), 1u);
    EXPECT_FALSE(verdicts[0].passed()) << count;
  }
}

TEST(BackupPolicyRowCounts, AMissingHighIsTheLow) {
  const auto verdicts = backup::row_count_verdicts({{"a", 5}, {"b", 6}, {"c", 4}},
                                                   {{"a", 5}, {"b", 5}, {"c", 5}}, {});
  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_EQ(verdicts[0].table, "a");
  EXPECT_EQ(verdicts[0].high, 5);
  EXPECT_TRUE(verdicts[0].passed());
  EXPECT_EQ(verdicts[1].table, "b");
  EXPECT_EQ(verdicts[1].high, 5);
  EXPECT_FALSE(verdicts[1].passed());
  EXPECT_EQ(verdicts[2].table, "c");
  EXPECT_FALSE(verdicts[2].passed());
}

TEST(BackupPolicyRowCounts, EmptyTablesCount) {
  const auto verdicts = backup::row_count_verdicts({{"t", 0}}, {{"t", 0}}, {{"t", 0}});
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_TRUE(verdicts[0].passed());
  const auto none = backup::row_count_verdicts({}, {{"t", 0}}, {{"t", 0}});
  ASSERT_EQ(none.size(), 1u);
  EXPECT_FALSE(none[0].passed()) << "no count is not a count of 0";
}

TEST(BackupPolicyRowCounts, OnlyTheBackupsTablesAreJudgedInNameOrder) {
  const auto verdicts = backup::row_count_verdicts({{"z.extra", 1}, {"b", 2}, {"a", 1}},
                                                   {{"b", 2}, {"a", 1}}, {{"b", 3}, {"a", 1}});
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(verdicts[0].table, "a");
  EXPECT_EQ(verdicts[1].table, "b");
  EXPECT_TRUE(backup::row_count_verdicts({{"a", 1}}, {}, {}).empty());
}

TEST(BackupPolicyRowCounts, LargeCounts) {
  const std::int64_t big = 5'000'000'000;
  const auto verdicts =
      backup::row_count_verdicts({{"t", big + 1}}, {{"t", big}}, {{"t", big + 2}});
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_TRUE(verdicts[0].passed());
}

// ---- without_secrets ---------------------------------------------------------------------------

namespace {

void expect_none_of(const std::string& text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    EXPECT_EQ(text.find(secret), std::string::npos) << '"' << secret << "\" in:\n" << text;
  }
}

}  // namespace

TEST(BackupPolicySecrets, PostgresqlConf) {
  const std::string conf =
      "# PostgreSQL configuration\n"
      "listen_addresses = '*'\n"
      "primary_conninfo = 'host=db password=s3cret user=r'\n"
      "ssl_key_file = '/etc/ssl/key.pem'\n"
      "ssl_passphrase_command = 'echo x'\n"
      "krb_server_keyfile = 'FILE:/etc/postgresql/krb5.keytab'\n"
      "shared_preload_libraries = 'pg_stat_statements'\t# (change requires restart)\n"
      "\n"
      "#ssl_passphrase_command = ''\n";
  const std::string expected =
      "# PostgreSQL configuration\n"
      "listen_addresses = '*'\n"
      "primary_conninfo = 'host=db password=<redacted> user=r'\n"
      "ssl_key_file = '/etc/ssl/key.pem'\n"
      "ssl_passphrase_command = <redacted>\n"
      "krb_server_keyfile = 'FILE:/etc/postgresql/krb5.keytab'\n"
      "shared_preload_libraries = 'pg_stat_statements'\t# (change requires restart)\n"
      "\n"
      "#ssl_passphrase_command = ''\n";
  EXPECT_EQ(backup::without_secrets(conf), expected);
  expect_none_of(backup::without_secrets(conf), {"s3cret", "echo x"});
}

TEST(BackupPolicySecrets, PasswordsInsideAPostgresqlConfConninfo) {
  // The last of the conninfo: the quote that ends the setting stays.
  EXPECT_EQ(backup::without_secrets("primary_conninfo = 'host=db user=r password=s3cret'"),
            "primary_conninfo = 'host=db user=r password=<redacted>'");
  // Quoted inside the quoted setting, with doubled quotes: all of it goes.
  EXPECT_EQ(backup::without_secrets("primary_conninfo = 'host=db password=''s3 cr3t'' user=r'"),
            "primary_conninfo = 'host=db password=<redacted> user=r'");
  EXPECT_EQ(backup::without_secrets("primary_conninfo = 'password=''s3 cr3t'''"),
            "primary_conninfo = 'password=<redacted>'");
  // A doubled quote in an unquoted password.
  EXPECT_EQ(backup::without_secrets("primary_conninfo = 'password=ab''cd user=r'"),
            "primary_conninfo = 'password=<redacted> user=r'");
  // Spaces around '=' and upper case.
  EXPECT_EQ(backup::without_secrets("primary_conninfo = 'host=db PASSWORD = s3cret'  # standby"),
            "primary_conninfo = 'host=db PASSWORD = <redacted>'  # standby");
  // A URI.
  EXPECT_EQ(backup::without_secrets("primary_conninfo = 'postgresql://rep:s3cret@db:5432/x'"),
            "primary_conninfo = 'postgresql://rep:<redacted>@db:5432/x'");
  // sslpassword is a password too.
  EXPECT_EQ(backup::without_secrets("primary_conninfo = 'host=db sslpassword=k3y'"),
            "primary_conninfo = 'host=db sslpassword=<redacted>'");
}

TEST(BackupPolicySecrets, PgbackrestConf) {
  const std::string conf =
      "[global]\n"
      "repo1-path=/var/lib/pgbackrest\n"
      "repo1-type=s3\n"
      "repo1-s3-bucket=backups\n"
      "repo1-s3-key=AKIAIOSFODNN7EXAMPLE\n"
      "repo1-s3-key-secret=xyz\n"
      "repo1-s3-token=tok3n\n"
      "repo1-cipher-type=aes-256-cbc\n"
      "repo1-cipher-pass=zWaf6XtpjIVZC5444yXB+cgFDFl7MxGlgk\n"
      "repo1-host-key-file=/etc/pgbackrest/client.key\n"
      "repo1-retention-full=2\n"
      "\n"
      "[main]\n"
      "pg1-path=/var/lib/postgresql/15/main\n";
  const std::string expected =
      "[global]\n"
      "repo1-path=/var/lib/pgbackrest\n"
      "repo1-type=s3\n"
      "repo1-s3-bucket=backups\n"
      "repo1-s3-key=<redacted>\n"
      "repo1-s3-key-secret=<redacted>\n"
      "repo1-s3-token=<redacted>\n"
      "repo1-cipher-type=aes-256-cbc\n"
      "repo1-cipher-pass=<redacted>\n"
      "repo1-host-key-file=/etc/pgbackrest/client.key\n"
      "repo1-retention-full=2\n"
      "\n"
      "[main]\n"
      "pg1-path=/var/lib/postgresql/15/main\n";
  EXPECT_EQ(backup::without_secrets(conf), expected);
  expect_none_of(backup::without_secrets(conf),
                 {"AKIAIOSFODNN7EXAMPLE", "xyz", "tok3n", "zWaf6XtpjIVZC5444yXB"});
}

TEST(BackupPolicySecrets, WorkerConfig) {
  const std::string conf =
      "# expense_ops worker\n"
      "dsn = host=/run/postgresql password=pw dbname=x\n"
      "secret = pagerduty:abc\n"
      "credential = monitor:m@x:pw\n"
      "smtp-url = smtps://user:pw@mail.example:465\n"
      "smtp-user = user\n"
      "smtp-password = x\n"
      "replication-dsn = host=db user=replicator password='p w' sslmode=require\n"
      "check-connection = reporting: host=db password=r3port dbname=reports\n"
      "backup-time = 02:30\n";
  const std::string expected =
      "# expense_ops worker\n"
      "dsn = host=/run/postgresql password=<redacted> dbname=x\n"
      "secret = <redacted>\n"
      "credential = <redacted>\n"
      "smtp-url = smtps://user:<redacted>@mail.example:465\n"
      "smtp-user = user\n"
      "smtp-password = <redacted>\n"
      "replication-dsn = host=db user=replicator password=<redacted> sslmode=require\n"
      "check-connection = reporting: host=db password=<redacted> dbname=reports\n"
      "backup-time = 02:30\n";
  const std::string kept = backup::without_secrets(conf);
  EXPECT_EQ(kept, expected);
  expect_none_of(kept, {"pagerduty:abc", "abc", "m@x:pw", "=pw", ":pw@", "'p w'", "r3port"});
}

TEST(BackupPolicySecrets, EachSecretSettingAlone) {
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"secret = pagerduty:abc", "secret = <redacted>"},
      {"credential = monitor:m@x:pw", "credential = <redacted>"},
      {"smtp-password = x", "smtp-password = <redacted>"},
      {"smtp-password=x", "smtp-password=<redacted>"},
      {"  smtp-password   =   x y z", "  smtp-password   =   <redacted>"},
      {"password: hunter2", "password: <redacted>"},
      {"api_token = t0k", "api_token = <redacted>"},
      {"Token=t0k", "Token=<redacted>"},
      {"myext.api_key = 'k3y'", "myext.api_key = <redacted>"},
      {"repo1-azure-key=az", "repo1-azure-key=<redacted>"},
      {"repo1-sftp-private-key-passphrase=pp", "repo1-sftp-private-key-passphrase=<redacted>"},
      {"db_pass = x", "db_pass = <redacted>"},
      {"passwd = x", "passwd = <redacted>"},
      {"dsn = postgresql://app:pw@db/x", "dsn = postgresql://app:<redacted>@db/x"},
      {"smtp-url = smtp://:pw@mail.example:587", "smtp-url = smtp://:<redacted>@mail.example:587"},
      {"smtp-url = smtps://user:p@ss@mail.example",
       "smtp-url = smtps://user:<redacted>@mail.example"},
  };
  for (const auto& [line, expected] : lines) {
    EXPECT_EQ(backup::without_secrets(line), expected);
  }
}

TEST(BackupPolicySecrets, WhatIsNoSecretStays) {
  for (const std::string line :
       {"ssl_key_file = '/etc/ssl/key.pem'", "repo1-path=/var/lib/pgbackrest", "[global]",
        "[global:archive-push]", "repo1-host-key-path=/etc/k",
        "smtp-url = smtps://mail.example:465", "smtp-url = smtp://user@mail.example:587",
        "dsn = host=/run/postgresql dbname=x", "listen-address = 127.0.0.1:9470", "bypass = on",
        "compass = north", "tcp_keepalives_idle = 60",
        "archive_command = 'test ! -f /a/%f && cp %p /a/%f'",
        "log_line_prefix = '%m [%p] %q%u@%d '", "work_mem = 64MB", "no setting here at all",
        "   indented = value"}) {
    EXPECT_EQ(backup::without_secrets(line), line);
  }
}

TEST(BackupPolicySecrets, CommentsStayAsTheyAre) {
  for (const std::string line :
       {"# a comment", "#", "   # indented comment", "\t# tab", "; ini comment",
        "  ; password = not touched in a comment", "#primary_conninfo = 'password=old'"}) {
    EXPECT_EQ(backup::without_secrets(line), line);
  }
}

TEST(BackupPolicySecrets, LayoutAndTheLastNewline) {
  EXPECT_EQ(backup::without_secrets(""), "");
  EXPECT_EQ(backup::without_secrets("\n"), "\n");
  EXPECT_EQ(backup::without_secrets("\n\n\n"), "\n\n\n");
  EXPECT_EQ(backup::without_secrets("a = 1"), "a = 1");
  EXPECT_EQ(backup::without_secrets("a = 1\n"), "a = 1\n");
  EXPECT_EQ(backup::without_secrets("a = 1\n\n"), "a = 1\n\n");
  EXPECT_EQ(backup::without_secrets("\na = 1"), "\na = 1");
  EXPECT_EQ(backup::without_secrets("secret = x"), "secret = <redacted>");
  EXPECT_EQ(backup::without_secrets("secret = x\n"), "secret = <redacted>\n");
  EXPECT_EQ(backup::without_secrets("a = 1\n  \t\nsecret = x\n\n# end"),
            "a = 1\n  \t\nsecret = <redacted>\n\n# end");
}

TEST(BackupPolicySecrets, CrlfLinesAreRedactedToo) {
  const std::string conf =
      "[global]\r\n"
      "repo1-s3-key=AKIAIOSFODNN7EXAMPLE\r\n"
      "repo1-cipher-pass=c1pher\r\n"
      "dsn = host=db password=pw dbname=x\r\n"
      "# comment\r\n"
      "repo1-path=/var/lib/pgbackrest\r\n";
  const std::string expected =
      "[global]\r\n"
      "repo1-s3-key=<redacted>\r\n"
      "repo1-cipher-pass=<redacted>\r\n"
      "dsn = host=db password=<redacted> dbname=x\r\n"
      "# comment\r\n"
      "repo1-path=/var/lib/pgbackrest\r\n";
  const std::string kept = backup::without_secrets(conf);
  EXPECT_EQ(kept, expected);
  expect_none_of(kept, {"AKIAIOSFODNN7EXAMPLE", "c1pher", "=pw"});
}

TEST(BackupPolicySecrets, NoSecretAppearsAnywhereInTheOutput) {
  // Each secret is unique text, to find wherever it might leak.
  const std::string conf =
      "primary_conninfo = 'host=db password=SECRET_A user=r'\n"
      "primary_conninfo = 'host=db user=r password=SECRET_B'\n"
      "primary_conninfo = 'password=''SECRET_C SECRET_D'' host=db'\n"
      "ssl_passphrase_command = 'echo SECRET_E'\n"
      "repo1-s3-key=SECRET_F\n"
      "repo1-s3-key-secret=SECRET_G\n"
      "repo1-cipher-pass=SECRET_H\n"
      "secret = pagerduty:SECRET_I\n"
      "credential = monitor:m@x:SECRET_J\n"
      "smtp-password = SECRET_K\n"
      "dsn = host=/run/postgresql password=SECRET_L dbname=x\n"
      "smtp-url = smtps://user:SECRET_M@mail.example:465\n"
      "replication-dsn = password='SECRET_N \\' SECRET_O' host=db\n"
      "check-connection = r: postgresql://u:SECRET_P@db/x?sslmode=require\n"
      "webhook_token: SECRET_Q\r\n"
      "  indented_password  SECRET_R\n";
  const std::string kept = backup::without_secrets(conf);
  expect_none_of(kept, {"SECRET_"});
  // Line for line, each setting's name still there.
  EXPECT_EQ(std::count(kept.begin(), kept.end(), '\n'), 16);
  for (const std::string name :
       {"primary_conninfo", "ssl_passphrase_command", "repo1-s3-key=", "repo1-s3-key-secret=",
        "repo1-cipher-pass=", "secret =", "credential =", "smtp-password =", "dsn =", "smtp-url =",
        "replication-dsn =", "check-connection =", "webhook_token:", "indented_password"}) {
    EXPECT_NE(kept.find(name), std::string::npos) << name;
  }
}

// A copy must still start a server: settings that only name a secret's kind stay as they are.
TEST(BackupPolicySecrets, SettingsThatNameNoSecretStaySoTheCopyStillStarts) {
  const std::string text =
      "password_encryption = scram-sha-256\n"
      "ssl_passphrase_command_supports_reload = on\n"
      "ssl_passphrase_command = 'cat /etc/ssl/THEPASSPHRASE'\n";
  const std::string copy = backup::without_secrets(text);
  EXPECT_NE(copy.find("password_encryption = scram-sha-256"), std::string::npos) << copy;
  EXPECT_NE(copy.find("ssl_passphrase_command_supports_reload = on"), std::string::npos) << copy;
  EXPECT_EQ(copy.find("THEPASSPHRASE"), std::string::npos) << copy;
}
