#include "core/sla_calendar.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>

// Only this file may include ptz.h: it defines a member function without `inline`, so a second
// translation unit including it would fail to link.
#include <date/ptz.h>
#include <date/tz.h>

#include "core/error.hpp"

namespace expense_ops::core::sla {

namespace {

using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int kMinutesPerDay = 24 * 60;

// The years a business calendar covers: the cache grows a year at a time, so an unbounded
// request (a due time centuries away) must stop somewhere rather than eat the backend's memory.
const Instant kEarliest{date::sys_days{date::year{1900} / date::January / 1}};
const Instant kLatest{date::sys_days{date::year{2400} / date::January / 1}};

// Where the date library (built with USE_OS_TZDB on Debian) and PostgreSQL find the zoneinfo.
const char* const kZoneinfoDirectory = "/usr/share/zoneinfo";

const std::array<const char*, 7> kWeekdayNames = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                  "Friday", "Saturday", "Sunday"};

std::string weekday_name(int iso_weekday) {
  return kWeekdayNames.at(iso_weekday - 1);
}

// HH:MM, also for the out-of-range minutes a caller may have sent, so the message shows them.
std::string clock_time(int minute_of_day) {
  const int magnitude = std::abs(minute_of_day);
  std::string text = minute_of_day < 0 ? "-" : "";
  const int hours = magnitude / 60;
  const int minutes_past = magnitude % 60;
  text += (hours < 10 ? "0" : "") + std::to_string(hours) + ":" + (minutes_past < 10 ? "0" : "") +
          std::to_string(minutes_past);
  return text;
}

std::string describe(const WorkingInterval& interval) {
  return weekday_name(interval.iso_weekday) + " " + clock_time(interval.start_minute) + "-" +
         clock_time(interval.end_minute);
}

// 1970-01-01 was a Thursday.
int iso_weekday_of(date::days day_since_epoch) {
  const auto from_thursday = ((day_since_epoch.count() % 7) + 7) % 7;
  return static_cast<int>((from_thursday + 3) % 7) + 1;
}

Instant start_of_utc_year(Instant instant) {
  const date::year_month_day day{date::floor<date::days>(instant)};
  return Instant{date::sys_days{day.year() / date::January / 1}};
}

Instant start_of_next_utc_year(Instant year_start) {
  const date::year_month_day day{date::floor<date::days>(year_start)};
  return Instant{date::sys_days{(day.year() + date::years{1}) / date::January / 1}};
}

Instant start_of_previous_utc_year(Instant year_start) {
  const date::year_month_day day{date::floor<date::days>(year_start)};
  return Instant{date::sys_days{(day.year() - date::years{1}) / date::January / 1}};
}

// The POSIX TZ rule that a zoneinfo file of version 2 or later ends with, on a line of its own
// after the binary data (RFC 8536, section 3.3); empty when the file has none.
std::string zoneinfo_footer(const std::string& zone_name) {
  std::ifstream file(std::string(kZoneinfoDirectory) + "/" + zone_name, std::ios::binary);
  const std::string contents{std::istreambuf_iterator<char>(file),
                             std::istreambuf_iterator<char>()};
  const bool has_footer = contents.size() > 5 && contents.compare(0, 4, "TZif") == 0 &&
                          contents[4] >= '2' && contents.back() == '\n';
  if (!has_footer) {
    return {};
  }
  const auto newline_before = contents.rfind('\n', contents.size() - 2);
  if (newline_before == std::string::npos) {
    return {};
  }
  return contents.substr(newline_before + 1, contents.size() - newline_before - 2);
}

[[noreturn]] void throw_outside_covered_years(Instant instant) {
  throw RuleViolation(sqlstate::kDatetimeFieldOverflow,
                      "instant " + format_iso8601(instant) +
                          " is outside the years 1900 to 2399 that business calendars cover",
                      "Measure SLA times between instants from 1900 up to 2399.");
}

int next_iso_weekday(int iso_weekday) {
  return iso_weekday % 7 + 1;
}

// Working time past midnight belongs to the next weekday: how to write `start` to `end_next_day`.
std::string split_at_midnight(int iso_weekday, int start_minute, int end_minute_next_day) {
  return describe({iso_weekday, start_minute, kMinutesPerDay}) + " and " +
         describe({next_iso_weekday(iso_weekday), 0, end_minute_next_day});
}

// An interval that ends before it starts, such as 22:00-06:00, is almost always a night shift.
std::string inverted_interval_hint(const WorkingInterval& interval) {
  if (interval.start_minute == interval.end_minute) {
    return "Give the start before the end, such as 09:00-17:00.";
  }
  if (interval.end_minute == 0) {
    return "Write midnight at the end of the day as 24:00: " +
           describe({interval.iso_weekday, interval.start_minute, kMinutesPerDay}) + ".";
  }
  return "An overnight shift needs two intervals: " +
         split_at_midnight(interval.iso_weekday, interval.start_minute, interval.end_minute) +
         "; 24:00 is the midnight that ends the day.";
}

std::string interval_outside_day_hint(const WorkingInterval& interval) {
  const bool runs_into_next_day = interval.start_minute >= 0 &&
                                  interval.start_minute < kMinutesPerDay &&
                                  interval.end_minute <= 2 * kMinutesPerDay;
  if (interval.end_minute > kMinutesPerDay && runs_into_next_day) {
    return "Working intervals lie within 00:00-24:00 of their weekday; split this one at "
           "midnight: " +
           split_at_midnight(interval.iso_weekday, interval.start_minute,
                             interval.end_minute - kMinutesPerDay) +
           ".";
  }
  return "Working intervals lie within 00:00-24:00 of their weekday; split one that runs past "
         "midnight into two weekdays.";
}

void validate_interval(const WorkingInterval& interval) {
  if (interval.iso_weekday < 1 || interval.iso_weekday > 7) {
    throw RuleViolation(sqlstate::kCalendarWeekday,
                        "working interval weekday " + std::to_string(interval.iso_weekday) +
                            " is not an ISO weekday",
                        "Number weekdays from 1 for Monday to 7 for Sunday.");
  }
  if (interval.start_minute < 0 || interval.end_minute > kMinutesPerDay) {
    throw RuleViolation(sqlstate::kCalendarIntervalInverted,
                        "working interval " + describe(interval) + " leaves the day",
                        interval_outside_day_hint(interval));
  }
  if (interval.start_minute >= interval.end_minute) {
    throw RuleViolation(sqlstate::kCalendarIntervalInverted,
                        "working interval " + describe(interval) + " does not end after it starts",
                        inverted_interval_hint(interval));
  }
}

}  // namespace

// The date library knows only a zoneinfo file's explicit transitions and keeps the last offset
// after them; PostgreSQL and glibc apply the file's POSIX TZ rule from there on.
struct BusinessCalendar::ZoneRules {
  const date::time_zone* zone;
  date::sys_seconds rule_from;           // the last explicit transition
  std::optional<Posix::time_zone> rule;  // none when the file has none, or ptz.h cannot read it

  // The stretch of constant UTC offset that `instant` lies in.
  date::sys_info stretch_at(date::sys_seconds instant) const {
    if (rule && instant >= rule_from) {
      return rule->get_info(instant);
    }
    return zone->get_info(instant);
  }

  // Throws std::runtime_error for a zone the system does not know.
  static std::shared_ptr<const ZoneRules> load(const std::string& zone_name) {
    auto rules = std::make_shared<ZoneRules>();
    rules->zone = date::locate_zone(zone_name);
    const date::sys_info last_stretch = rules->zone->get_info(date::floor<seconds>(kLatest));
    rules->rule_from = last_stretch.begin;
    const std::string footer = zoneinfo_footer(zone_name);
    if (footer.empty()) {
      return rules;
    }
    try {
      rules->rule.emplace(footer);
    } catch (const std::runtime_error&) {
      // ptz.h reads transition times from 0 to 99 hours only; tzdata 2025b's one rule beyond
      // that is Greenland's, switching at -1:00.
      return rules;
    }
    // RFC 8536 has the rule agree with the last transition; one that does not was misread.
    if (rules->rule->get_info(rules->rule_from).offset != last_stretch.offset) {
      rules->rule.reset();
    }
    return rules;
  }
};

BusinessCalendar::BusinessCalendar(std::string time_zone,
                                   std::shared_ptr<const ZoneRules> zone_rules,
                                   std::vector<WorkingInterval> week,
                                   std::vector<LocalDate> holidays, bool always)
    : time_zone_(std::move(time_zone)),
      zone_rules_(std::move(zone_rules)),
      week_(std::move(week)),
      holidays_(std::move(holidays)),
      always_(always) {}

BusinessCalendar BusinessCalendar::make(const std::string& time_zone,
                                        std::vector<WorkingInterval> week,
                                        std::vector<LocalDate> holidays) {
  std::shared_ptr<const ZoneRules> zone_rules;
  try {
    zone_rules = ZoneRules::load(time_zone);
  } catch (const std::runtime_error&) {
    throw RuleViolation(sqlstate::kUnknownTimeZone,
                        "time_zone \"" + time_zone + "\" is not a known IANA time zone",
                        "Use a name from pg_timezone_names, such as Europe/Berlin.");
  }
  for (const auto& interval : week) {
    validate_interval(interval);
  }
  std::sort(week.begin(), week.end(), [](const WorkingInterval& a, const WorkingInterval& b) {
    return std::tie(a.iso_weekday, a.start_minute, a.end_minute) <
           std::tie(b.iso_weekday, b.start_minute, b.end_minute);
  });
  for (std::size_t i = 1; i < week.size(); ++i) {
    const auto& earlier = week[i - 1];
    const auto& later = week[i];
    if (earlier.iso_weekday == later.iso_weekday && later.start_minute < earlier.end_minute) {
      throw RuleViolation(
          sqlstate::kCalendarIntervalsOverlap,
          "working intervals " + describe(earlier) + " and " + describe(later) + " overlap",
          "Merge them, or let one end where the other starts.");
    }
  }
  if (week.empty()) {
    throw RuleViolation(sqlstate::kCalendarEmpty, "the calendar has no working time in the week",
                        "Give at least one working interval, such as Monday 09:00-17:00.");
  }
  std::sort(holidays.begin(), holidays.end());
  holidays.erase(std::unique(holidays.begin(), holidays.end()), holidays.end());
  return BusinessCalendar(time_zone, std::move(zone_rules), std::move(week), std::move(holidays),
                          false);
}

BusinessCalendar BusinessCalendar::always() {
  std::vector<WorkingInterval> week;
  for (int weekday = 1; weekday <= 7; ++weekday) {
    week.push_back({weekday, 0, kMinutesPerDay});
  }
  return BusinessCalendar("UTC", nullptr, std::move(week), {}, true);
}

std::chrono::microseconds BusinessCalendar::elapsed(Instant from, Instant to) const {
  if (to <= from) {
    return microseconds{0};
  }
  if (always_) {
    return to - from;
  }
  cover(from, to);
  return worked_until(to) - worked_until(from);
}

Instant BusinessCalendar::add(Instant from, std::chrono::microseconds business_time) const {
  if (business_time < microseconds{0}) {
    throw RuleViolation(sqlstate::kSlaTargetNegative, "business time to add must not be negative",
                        "Add a duration of zero or more.");
  }
  if (business_time == microseconds{0}) {
    return from;
  }
  if (always_) {
    return from + business_time;
  }
  cover(from, from);
  if (business_time > kLatest - kEarliest) {
    throw_outside_covered_years(kLatest);
  }
  const auto target = worked_until(from) + business_time;
  while (cache_.worked_at_end < target) {
    extend_forward();
  }
  const auto& ranges = cache_.ranges;
  const auto reaching =
      std::partition_point(ranges.begin(), ranges.end(), [target](const WorkingRange& range) {
        return range.worked_before + (range.end - range.begin) < target;
      });
  return reaching->begin + (target - reaching->worked_before);
}

bool BusinessCalendar::is_working(Instant instant) const {
  if (always_) {
    return true;
  }
  cover(instant, instant);
  const auto& ranges = cache_.ranges;
  const auto candidate =
      std::partition_point(ranges.begin(), ranges.end(),
                           [instant](const WorkingRange& range) { return range.end <= instant; });
  return candidate != ranges.end() && candidate->begin <= instant;
}

std::chrono::microseconds BusinessCalendar::worked_until(Instant instant) const {
  for (const auto& remembered : cache_.remembered) {
    if (remembered.valid && remembered.instant == instant) {
      return remembered.worked;
    }
  }
  const auto& ranges = cache_.ranges;
  const auto candidate =
      std::partition_point(ranges.begin(), ranges.end(),
                           [instant](const WorkingRange& range) { return range.end <= instant; });
  microseconds worked;
  if (candidate == ranges.end()) {
    worked = cache_.worked_at_end;
  } else if (instant <= candidate->begin) {
    worked = candidate->worked_before;
  } else {
    worked = candidate->worked_before + (instant - candidate->begin);
  }
  cache_.remembered[cache_.remember_next] = {instant, worked, true};
  cache_.remember_next ^= 1;
  return worked;
}

// Extending keeps what is already covered as it was, but an instant at the old edge may now
// fall in a range merged across New Year: start afresh rather than reason about it.
void BusinessCalendar::forget_remembered() const {
  for (auto& remembered : cache_.remembered) {
    remembered.valid = false;
  }
}

void BusinessCalendar::cover(Instant first, Instant last) const {
  if (first < kEarliest) {
    throw_outside_covered_years(first);
  }
  if (last >= kLatest) {
    throw_outside_covered_years(last);
  }
  if (cache_.covered_begin == cache_.covered_end) {
    cache_.covered_begin = cache_.covered_end = start_of_utc_year(first);
  }
  while (last >= cache_.covered_end) {
    extend_forward();
  }
  while (first < cache_.covered_begin) {
    extend_backward();
  }
}

void BusinessCalendar::extend_forward() const {
  forget_remembered();
  if (cache_.covered_end >= kLatest) {
    throw_outside_covered_years(kLatest);
  }
  const Instant year_end = start_of_next_utc_year(cache_.covered_end);
  auto worked = cache_.worked_at_end;
  for (auto range : working_ranges_between(cache_.covered_end, year_end)) {
    // A range running over New Year continues the previous year's last one.
    if (!cache_.ranges.empty() && cache_.ranges.back().end == range.begin) {
      cache_.ranges.back().end = range.end;
    } else {
      range.worked_before = worked;
      cache_.ranges.push_back(range);
    }
    worked += range.end - range.begin;
  }
  cache_.worked_at_end = worked;
  cache_.covered_end = year_end;
}

void BusinessCalendar::extend_backward() const {
  forget_remembered();
  if (cache_.covered_begin <= kEarliest) {
    throw_outside_covered_years(kEarliest - microseconds{1});
  }
  const Instant year_begin = start_of_previous_utc_year(cache_.covered_begin);
  auto earlier = working_ranges_between(year_begin, cache_.covered_begin);
  microseconds year_worked{0};
  for (const auto& range : earlier) {
    year_worked += range.end - range.begin;
  }
  // Counting runs backwards from the cache's origin, so nothing already cached changes.
  auto worked = cache_.worked_at_begin - year_worked;
  for (auto& range : earlier) {
    range.worked_before = worked;
    worked += range.end - range.begin;
  }
  auto& ranges = cache_.ranges;
  if (!earlier.empty() && !ranges.empty() && earlier.back().end == ranges.front().begin) {
    earlier.back().end = ranges.front().end;
    ranges.erase(ranges.begin());
  }
  ranges.insert(ranges.begin(), earlier.begin(), earlier.end());
  cache_.worked_at_begin -= year_worked;
  cache_.covered_begin = year_begin;
}

// The working time in [begin, end), merged, without worked_before. Each stretch of constant UTC
// offset maps local wall-clock times one to one onto UTC, so working time is, per stretch, the
// working intervals of the local dates the stretch shows, shifted by its offset. Gaps simply show
// no local time; repeated local times show up in two stretches.
std::vector<BusinessCalendar::WorkingRange> BusinessCalendar::working_ranges_between(
    Instant begin, Instant end) const {
  std::vector<WorkingRange> found;
  const auto stretch_limit = date::floor<seconds>(end);
  auto stretch_begin = date::floor<seconds>(begin);
  while (stretch_begin < stretch_limit) {
    const date::sys_info info = zone_rules_->stretch_at(stretch_begin);
    const auto stretch_end = std::min(info.end, stretch_limit);
    const auto offset = info.offset;
    const seconds local_begin = stretch_begin.time_since_epoch() + offset;
    const seconds local_end = stretch_end.time_since_epoch() + offset;

    for (auto day = date::floor<date::days>(local_begin); day < local_end; day += date::days{1}) {
      if (std::binary_search(holidays_.begin(), holidays_.end(),
                             static_cast<LocalDate>(day.count()))) {
        continue;
      }
      const int weekday = iso_weekday_of(day);
      for (const auto& interval : week_) {
        if (interval.iso_weekday != weekday) {
          continue;
        }
        const seconds local_start =
            std::max<seconds>(day + minutes{interval.start_minute}, local_begin);
        const seconds local_stop = std::min<seconds>(day + minutes{interval.end_minute}, local_end);
        if (local_start >= local_stop) {
          continue;
        }
        const Instant range_begin{local_start - offset};
        const Instant range_end{local_stop - offset};
        if (!found.empty() && found.back().end == range_begin) {
          found.back().end = range_end;
        } else {
          found.push_back({range_begin, range_end, microseconds{0}});
        }
      }
    }
    stretch_begin = stretch_end;
  }
  return found;
}

}  // namespace expense_ops::core::sla
