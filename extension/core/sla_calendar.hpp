// Business calendars for SLA clocks: which instants count as working time for a team that works
// fixed local hours in one IANA time zone, apart from its holidays.
//
// Working time is defined in local wall-clock time and measured in real elapsed time: an instant
// is working time when its local time, in the calendar's zone, falls inside one of the week's
// working intervals on a local date that is not a holiday. Around daylight saving transitions
// this means:
//  - local times skipped by a spring-forward gap never happen, so an interval starting inside the
//    gap starts when the gap ends, and 00:00-24:00 on that day in Europe/Berlin is 23 hours;
//  - local times repeated after an autumn fall-back happen twice and count both times, so
//    00:00-24:00 on that day is 25 hours, and an interval that starts in the repeated hour starts
//    at its first occurrence. An interval that ends inside the repeated hour (say 00:00-02:30 on
//    the Berlin fall-back day) is working time up to the first 02:30 and again from the second
//    02:00 to the second 02:30: both passes through the interval's wall-clock times count.
//
// Zone rules come from the operating system's zoneinfo (/usr/share/zoneinfo), read as PostgreSQL
// and glibc read it: the explicit transitions (Debian's files list them up to 2037), and after the
// last of them the POSIX TZ rule the file ends with (for Berlin CET-1CEST,M3.5.0,M10.5.0/3), so
// summer time goes on after 2037. Only Greenland's rule (America/Nuuk, America/Scoresbysund),
// which switches at -1:00 local time, is beyond what Howard Hinnant's ptz.h reads: calendars in
// those zones keep the offset of the last explicit transition after it.
// Instants are accepted from 1900 up to 2400, the years the cache is allowed to grow to; others
// are a RuleViolation (22008).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/time.hpp"

namespace expense_ops::core::sla {

// Local dates are days since 1970-01-01, as the glue converts PostgreSQL's date.
using LocalDate = std::int32_t;

// Working time on one weekday, in local wall-clock minutes after midnight: [start, end).
struct WorkingInterval {
  int iso_weekday = 1;   // 1 = Monday .. 7 = Sunday
  int start_minute = 0;  // 0 .. 1439
  int end_minute = 0;    // start_minute + 1 .. 1440; 1440 is the next local midnight
};

class BusinessCalendar {
 public:
  // A validated calendar, or a RuleViolation: 22X40 for a zone the system does not know, 22X43
  // for a weekday outside 1..7, 22X41 for an interval that does not end after it starts or leaves
  // the day, 22X42 for two overlapping intervals on one weekday (touching ones are fine), 22X44
  // for a week without working time. Holidays may repeat and come in any order.
  static BusinessCalendar make(const std::string& time_zone, std::vector<WorkingInterval> week,
                               std::vector<LocalDate> holidays = {});

  // Every instant is working time (zone UTC, no holidays); costs plain arithmetic.
  static BusinessCalendar always();

  // Working time in [from, to); zero when `to` is not after `from`.
  std::chrono::microseconds elapsed(Instant from, Instant to) const;

  // The earliest instant t >= from with elapsed(from, t) == business_time: when the time runs out
  // exactly at the end of a working range, that end, not the start of the next range. Zero gives
  // `from`; a negative business_time is a RuleViolation (22X45).
  Instant add(Instant from, std::chrono::microseconds business_time) const;

  bool is_working(Instant instant) const;

  const std::string& time_zone() const { return time_zone_; }
  const std::vector<WorkingInterval>& week() const { return week_; }
  const std::vector<LocalDate>& holidays() const { return holidays_; }

 private:
  // Working time in UTC, merged so that no two ranges touch, with the working time before it.
  struct WorkingRange {
    Instant begin;
    Instant end;
    std::chrono::microseconds worked_before;  // from the cache's origin; negative before it
  };

  // The working ranges of the UTC years looked at so far, built a year at a time and extended on
  // demand in either direction. After warm-up, elapsed and add are binary searches. The cache is
  // `mutable` and not synchronised: a calendar belongs to one thread (one backend) at a time.
  struct RangeCache {
    std::vector<WorkingRange> ranges;
    Instant covered_begin;
    Instant covered_end;  // nothing is covered while covered_begin == covered_end
    std::chrono::microseconds worked_at_begin{0};
    std::chrono::microseconds worked_at_end{0};
    // The last two answers of worked_until: a pass over many tickets reads each clock at the
    // same `now` and looks up each start twice (for the due time and for the time used).
    struct Remembered {
      Instant instant;
      std::chrono::microseconds worked{0};
      bool valid = false;
    };
    Remembered remembered[2];
    int remember_next = 0;
  };

  // The zone's UTC offsets over time; defined where the zoneinfo is read.
  struct ZoneRules;

  BusinessCalendar(std::string time_zone, std::shared_ptr<const ZoneRules> zone_rules,
                   std::vector<WorkingInterval> week, std::vector<LocalDate> holidays, bool always);

  void cover(Instant first, Instant last) const;  // builds years until [first, last] is covered
  void extend_forward() const;
  void extend_backward() const;
  void forget_remembered() const;
  std::vector<WorkingRange> working_ranges_between(Instant begin, Instant end) const;
  std::chrono::microseconds worked_until(Instant instant) const;  // needs `instant` covered

  std::string time_zone_;
  std::shared_ptr<const ZoneRules> zone_rules_;  // none for always(), which needs no zone
  std::vector<WorkingInterval> week_;            // sorted by weekday, then start
  std::vector<LocalDate> holidays_;              // sorted, unique
  bool always_ = false;
  mutable RangeCache cache_;
};

}  // namespace expense_ops::core::sla
