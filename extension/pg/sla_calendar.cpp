// SLA calendars at the SQL boundary. The arithmetic is extension/core/sla_calendar; this file
// loads calendars from ops.calendars* into a per-backend cache and converts timestamptz and
// interval.
//
// The cache matters: a calendar keeps its working ranges with prefix sums, so after the first
// use a due time is two binary searches. Writes to the calendar tables invalidate it in every
// backend through relcache invalidation, as the expense policy cache does.
#include "pg/sla_calendar.hpp"

#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"
#include "pg/trigger.hpp"

namespace {

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;
namespace sla = expense_ops::core::sla;
using std::chrono::microseconds;

struct CalendarCache {
  Oid calendars_relid = InvalidOid;
  Oid hours_relid = InvalidOid;
  Oid holidays_relid = InvalidOid;
  bool callback_registered = false;
  // shared_ptr: a caller keeps its calendar even if an invalidation empties the map meanwhile.
  std::unordered_map<std::string, std::shared_ptr<const sla::BusinessCalendar>> calendars;
  // Counts clears, so that a call site's remembered calendar (CalendarMemo) knows it is stale.
  std::uint64_t generation = 1;

  void clear() noexcept {
    calendars.clear();
    ++generation;
    calendars_relid = hours_relid = holidays_relid = InvalidOid;
  }
};

CalendarCache calendar_cache;

// Runs inside PostgreSQL's invalidation processing: it may only forget things.
void on_relcache_invalidation(Datum, Oid relid) noexcept {
  if (relid == InvalidOid || relid == calendar_cache.calendars_relid ||
      relid == calendar_cache.hours_relid || relid == calendar_cache.holidays_relid) {
    calendar_cache.clear();
  }
}

Oid ops_relid(const char* name) {
  return pg::guarded([name] { return get_relname_relid(name, get_namespace_oid("ops", false)); });
}

void ensure_cache_ready() {
  if (!calendar_cache.callback_registered) {
    pg::guarded([] { CacheRegisterRelcacheCallback(on_relcache_invalidation, 0); });
    calendar_cache.callback_registered = true;
  }
  if (calendar_cache.calendars_relid == InvalidOid) {
    calendar_cache.calendars_relid = ops_relid("calendars");
    calendar_cache.hours_relid = ops_relid("calendar_hours");
    calendar_cache.holidays_relid = ops_relid("calendar_holidays");
  }
}

// A week that is working time throughout, with no holidays, is the 24x7 calendar whatever its
// zone: every instant's local time falls in some interval.
bool always_working(const std::vector<sla::WorkingInterval>& week,
                    const std::vector<sla::LocalDate>& holidays) {
  if (!holidays.empty() || week.size() != 7) {
    return false;
  }
  bool day_covered[8] = {};
  for (const auto& interval : week) {
    if (interval.iso_weekday >= 1 && interval.iso_weekday <= 7 && interval.start_minute == 0 &&
        interval.end_minute == 24 * 60) {
      day_covered[interval.iso_weekday] = true;
    }
  }
  for (int day = 1; day <= 7; ++day) {
    if (!day_covered[day]) {
      return false;
    }
  }
  return true;
}

// Calendars are configuration every clock needs, whoever reads the clock: an API caller reading
// api.sla_board has no privileges on ops.calendars. So they are read as the owner of the
// calendar tables, the way PostgreSQL's own foreign-key checks read as the table owner.
// Switching the user id cannot fail, and an aborted transaction restores it by itself.
class ReadAsCalendarOwner {
 public:
  ReadAsCalendarOwner() {
    const Oid relid = calendar_cache.calendars_relid;
    const Oid owner = pg::guarded([relid] {
      HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
      if (!HeapTupleIsValid(tuple)) {
        elog(ERROR, "cache lookup failed for relation %u", relid);
      }
      const Oid relowner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
      ReleaseSysCache(tuple);
      return relowner;
    });
    GetUserIdAndSecContext(&saved_user_, &saved_context_);
    SetUserIdAndSecContext(owner, saved_context_ | SECURITY_LOCAL_USERID_CHANGE);
  }
  ~ReadAsCalendarOwner() { SetUserIdAndSecContext(saved_user_, saved_context_); }
  ReadAsCalendarOwner(const ReadAsCalendarOwner&) = delete;
  ReadAsCalendarOwner& operator=(const ReadAsCalendarOwner&) = delete;

 private:
  Oid saved_user_ = InvalidOid;
  int saved_context_ = 0;
};

sla::BusinessCalendar load_calendar(const std::string& calendar_id) {
  static SPIPlanPtr zone_plan = nullptr;
  static SPIPlanPtr hours_plan = nullptr;
  static SPIPlanPtr holidays_plan = nullptr;
  Oid types[] = {TEXTOID};
  Datum parameters[] = {pg::text_datum(calendar_id)};
  const ReadAsCalendarOwner as_owner;
  pg::SpiConnection spi;
  const auto zone_rows = pg::execute_read_only(
      pg::kept_plan(zone_plan, "SELECT time_zone FROM ops.calendars WHERE calendar_id = $1", 1,
                    types),
      parameters);
  if (zone_rows.size() != 1) {
    throw core::RuleViolation(core::sqlstate::kInvalidParameterValue,
                              "calendar: there is no calendar \"" + calendar_id + "\"",
                              "Use one of ops.calendars, such as 24x7.");
  }
  const std::string zone = zone_rows[0].string(1).value_or("");
  const auto hour_rows = pg::execute_read_only(
      pg::kept_plan(hours_plan,
                    "SELECT weekday::int8, (extract(epoch FROM starts_at) / 60)::int8,"
                    " (extract(epoch FROM ends_at) / 60)::int8"
                    " FROM ops.calendar_hours WHERE calendar_id = $1",
                    1, types),
      parameters);
  std::vector<sla::WorkingInterval> week;
  for (std::uint64_t i = 0; i < hour_rows.size(); ++i) {
    week.push_back({static_cast<int>(hour_rows[i].integer(1).value_or(0)),
                    static_cast<int>(hour_rows[i].integer(2).value_or(0)),
                    static_cast<int>(hour_rows[i].integer(3).value_or(0))});
  }
  const auto holiday_rows =
      pg::execute_read_only(pg::kept_plan(holidays_plan,
                                          "SELECT (day - date '1970-01-01')::int8 FROM "
                                          "ops.calendar_holidays WHERE calendar_id = $1",
                                          1, types),
                            parameters);
  std::vector<sla::LocalDate> holidays;
  for (std::uint64_t i = 0; i < holiday_rows.size(); ++i) {
    holidays.push_back(static_cast<sla::LocalDate>(holiday_rows[i].integer(1).value_or(0)));
  }
  spi.finish();
  try {
    auto calendar = sla::BusinessCalendar::make(zone, week, holidays);
    return always_working(week, holidays) ? sla::BusinessCalendar::always() : std::move(calendar);
  } catch (const core::RuleViolation& violation) {
    throw core::RuleViolation(violation.sqlstate(),
                              "calendar " + calendar_id + ": " + violation.what(), violation.hint(),
                              violation.detail());
  }
}

std::shared_ptr<const sla::BusinessCalendar> calendar(const std::string& calendar_id) {
  ensure_cache_ready();
  auto found = calendar_cache.calendars.find(calendar_id);
  if (found != calendar_cache.calendars.end()) {
    return found->second;
  }
  // Loading runs SPI, which may process invalidations and clear the map: insert afterwards.
  auto loaded = std::make_shared<const sla::BusinessCalendar>(load_calendar(calendar_id));
  calendar_cache.calendars.emplace(calendar_id, loaded);
  return loaded;
}

}  // namespace

namespace expense_ops::pg {

const sla::BusinessCalendar& calendar_argument(FunctionCallInfo fcinfo, int index,
                                               CalendarMemo& memo) {
  if (PG_ARGISNULL(index)) {
    throw core::RuleViolation(core::sqlstate::kNullValueNotAllowed, "calendar must not be null",
                              "Pass a calendar, such as 24x7.");
  }
  const auto* name = reinterpret_cast<const varlena*>(DatumGetPointer(PG_GETARG_DATUM(index)));
  // An uncompressed inline name (the usual case) is compared where it lies; a compressed or
  // external one (a TOAST pointer is a short varlena too) takes the long way, text_argument.
  if (VARATT_IS_4B_U(name) || (VARATT_IS_1B(name) && !VARATT_IS_1B_E(name))) {
    const char* bytes = VARDATA_ANY(name);
    const int length = static_cast<int>(VARSIZE_ANY_EXHDR(name));
    if (memo.name_length == length && memo.generation == calendar_cache.generation &&
        std::memcmp(memo.name, bytes, length) == 0) {
      return *memo.calendar;
    }
  }
  const std::string calendar_id = text_argument(fcinfo, index, "calendar");
  const auto found = calendar(calendar_id);
  if (calendar_id.size() <= sizeof(memo.name)) {
    std::memcpy(memo.name, calendar_id.data(), calendar_id.size());
    memo.name_length = static_cast<int>(calendar_id.size());
    memo.generation = calendar_cache.generation;
    memo.calendar = found.get();
  }
  return *found;
}

microseconds duration_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  require_argument(fcinfo, index, name);
  const Interval* span = PG_GETARG_INTERVAL_P(index);
  if (span->month != 0) {
    throw core::RuleViolation(core::sqlstate::kSlaTargetMonths,
                              std::string(name) + ": an SLA target in months has no fixed length",
                              "Give it in days, hours and minutes, such as '30 days'.");
  }
  const microseconds duration{span->time + static_cast<std::int64_t>(span->day) * USECS_PER_DAY};
  if (duration.count() < 0) {
    throw core::RuleViolation(core::sqlstate::kSlaTargetNegative,
                              std::string(name) + ": a target cannot be negative",
                              "Give a duration of zero or more, such as '4 hours'.");
  }
  return duration;
}

}  // namespace expense_ops::pg

// ops.business_time(calendar, from, to) RETURNS interval
EXPENSE_OPS_FUNCTION(expense_ops_business_time) {
  const auto& business = pg::calendar_argument(fcinfo, 0);
  return pg::interval_datum(business.elapsed(pg::timestamptz_argument(fcinfo, 1, "from"),
                                             pg::timestamptz_argument(fcinfo, 2, "to")));
}

// ops.add_business_time(calendar, start, duration) RETURNS timestamptz
EXPENSE_OPS_FUNCTION(expense_ops_add_business_time) {
  const auto& business = pg::calendar_argument(fcinfo, 0);
  const auto end = business.add(pg::timestamptz_argument(fcinfo, 1, "start"),
                                pg::duration_argument(fcinfo, 2, "duration"));
  PG_RETURN_TIMESTAMPTZ(pg::to_timestamptz(end));
}

// AFTER each statement on ops.calendars, calendar_hours or calendar_holidays: forgets the
// calendars here, and makes every other backend forget them at commit. Validation waits for the
// commit (ops.validate_calendar), when a calendar and its hours are both written.
EXPENSE_OPS_FUNCTION(expense_ops_sla_configuration_changed) {
  const TriggerData& trigger = pg::own_trigger_call(
      fcinfo, "ops.sla_configuration_changed()", pg::TriggerTiming::kAfter,
      pg::TriggerLevel::kStatement,
      {{"ops", "calendars"}, {"ops", "calendar_hours"}, {"ops", "calendar_holidays"}});
  const Oid relid = RelationGetRelid(trigger.tg_relation);
  pg::guarded([&] { CacheInvalidateRelcacheByRelid(relid); });
  calendar_cache.clear();
  return PointerGetDatum(nullptr);
}
