// SLA calendars and clocks at the SQL boundary. The arithmetic is extension/core/sla_calendar
// and sla_clock; this file loads calendars from ops.calendars* into a per-backend cache and
// converts timestamptz, interval and tstzmultirange.
//
// The cache matters: a calendar keeps its working ranges with prefix sums, so after the first
// use a due time is two binary searches. Writes to the calendar tables invalidate it in every
// backend through relcache invalidation, as the expense policy cache does.
#include <cstring>
#include <memory>
#include <unordered_map>

#include "core/error.hpp"
#include "core/sla_calendar.hpp"
#include "core/sla_clock.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/spi.hpp"
#include "pg/trigger.hpp"

namespace {

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;
namespace sla = expense_ops::core::sla;
using std::chrono::microseconds;

constexpr std::int64_t kUnixEpochInPostgresDays = UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE;

struct CalendarCache {
  Oid calendars_relid = InvalidOid;
  Oid hours_relid = InvalidOid;
  Oid holidays_relid = InvalidOid;
  bool callback_registered = false;
  // shared_ptr: a caller keeps its calendar even if an invalidation empties the map meanwhile.
  std::unordered_map<std::string, std::shared_ptr<const sla::BusinessCalendar>> calendars;
  // Counts clears, so that a call site's remembered calendar (CallSite) knows it is stale.
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

// What one call site (one expression in one query) remembers between rows, in fn_extra: the
// calendar it last named, and for ops.read_clock the result's shape. A query over many tickets
// names the same calendar on every row; this skips the text copy and the hash lookup.
struct CallSite {
  char calendar_name[64];
  int calendar_name_length;               // -1: nothing remembered
  std::uint64_t generation;               // calendar_cache.generation when remembered
  const sla::BusinessCalendar* calendar;  // kept alive by calendar_cache until it is cleared
  TupleDesc clock_descriptor;             // ops.read_clock only
  Datum clock_states[5];                  // ops.sla_clock_state values, in ClockState order
};

CallSite& call_site(FunctionCallInfo fcinfo) {
  if (fcinfo->flinfo->fn_extra == nullptr) {
    fcinfo->flinfo->fn_extra = pg::guarded([&] {
      auto* site =
          static_cast<CallSite*>(MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallSite)));
      site->calendar_name_length = -1;
      return static_cast<void*>(site);
    });
  }
  return *static_cast<CallSite*>(fcinfo->flinfo->fn_extra);
}

// The reference stays valid until PostgreSQL next processes invalidations, which any catalog
// access may do: take it after converting the other arguments, and drop it before calling
// into PostgreSQL again.
const sla::BusinessCalendar& calendar_argument(FunctionCallInfo fcinfo, int index) {
  if (PG_ARGISNULL(index)) {
    throw core::RuleViolation(core::sqlstate::kNullValueNotAllowed, "calendar must not be null",
                              "Pass a calendar, such as 24x7.");
  }
  CallSite& site = call_site(fcinfo);
  const auto* name = reinterpret_cast<const varlena*>(DatumGetPointer(PG_GETARG_DATUM(index)));
  // An uncompressed inline name (the usual case) is compared where it lies; a compressed or
  // external one (a TOAST pointer is a short varlena too) takes the long way, text_argument.
  if (VARATT_IS_4B_U(name) || (VARATT_IS_1B(name) && !VARATT_IS_1B_E(name))) {
    const char* bytes = VARDATA_ANY(name);
    const int length = static_cast<int>(VARSIZE_ANY_EXHDR(name));
    if (site.calendar_name_length == length && site.generation == calendar_cache.generation &&
        std::memcmp(site.calendar_name, bytes, length) == 0) {
      return *site.calendar;
    }
  }
  const std::string calendar_id = pg::text_argument(fcinfo, index, "calendar");
  const auto found = calendar(calendar_id);
  if (calendar_id.size() <= sizeof(site.calendar_name)) {
    std::memcpy(site.calendar_name, calendar_id.data(), calendar_id.size());
    site.calendar_name_length = static_cast<int>(calendar_id.size());
    site.generation = calendar_cache.generation;
    site.calendar = found.get();
  }
  return *found;
}

// Targets are working time: "4 hours" is four working hours. Months have no fixed length and
// are refused; a day is 24 hours of working time.
microseconds duration_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  pg::require_argument(fcinfo, index, name);
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

// NULL is no pauses. Bound inclusivity is ignored: a microsecond at most.
std::vector<sla::Pause> pauses_argument(FunctionCallInfo fcinfo, int index) {
  std::vector<sla::Pause> pauses;
  if (PG_ARGISNULL(index)) {
    return pauses;
  }
  const Datum argument = PG_GETARG_DATUM(index);
  struct Bounds {
    bool lower_infinite, upper_infinite;
    TimestampTz lower, upper;
  };
  const MultirangeType* multirange = pg::guarded([&] { return DatumGetMultirangeTypeP(argument); });
  const auto count = static_cast<int32>(multirange->rangeCount);
  // Not multirange_get_typcache(): it keeps its entry in fn_extra, which ops.read_clock uses.
  TypeCacheEntry* range_type = pg::guarded([&] {
    return lookup_type_cache(MultirangeTypeGetOid(multirange), TYPECACHE_MULTIRANGE_INFO)->rngtype;
  });
  for (int32 i = 0; i < count; ++i) {
    const Bounds bounds = pg::guarded([&] {
      RangeBound lower, upper;
      multirange_get_bounds(range_type, multirange, i, &lower, &upper);
      return Bounds{lower.infinite, upper.infinite,
                    lower.infinite ? 0 : DatumGetTimestampTz(lower.val),
                    upper.infinite ? 0 : DatumGetTimestampTz(upper.val)};
    });
    sla::Pause pause;
    pause.start =
        bounds.lower_infinite ? pg::to_instant(DT_NOBEGIN + 1) : pg::to_instant(bounds.lower);
    if (!bounds.upper_infinite) {
      pause.end = pg::to_instant(bounds.upper);
    }
    pauses.push_back(pause);
  }
  return pauses;
}

Datum interval_datum(microseconds duration) {
  return pg::guarded([&] {
    auto* span = static_cast<Interval*>(palloc0(sizeof(Interval)));
    span->time = duration.count();
    return PointerGetDatum(span);
  });
}

// ops.read_clock's result type and its state values, looked up once per call site.
void prepare_clock_result(FunctionCallInfo fcinfo, CallSite& site) {
  if (site.clock_descriptor != nullptr) {
    return;
  }
  // In ClockState order; to_string()'s views are of string literals, so .data() ends in NUL.
  const char* names[5];
  for (int i = 0; i < 5; ++i) {
    names[i] = sla::to_string(static_cast<sla::ClockState>(i)).data();
  }
  pg::guarded([&] {
    MemoryContext previous = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
    TupleDesc descriptor;
    if (get_call_result_type(fcinfo, nullptr, &descriptor) != TYPEFUNC_COMPOSITE) {
      elog(ERROR, "ops.read_clock must return the composite ops.sla_clock");
    }
    descriptor = BlessTupleDesc(CreateTupleDescCopy(descriptor));
    const Oid state_type = TupleDescAttr(descriptor, 0)->atttypid;
    for (int i = 0; i < 5; ++i) {
      site.clock_states[i] =
          DirectFunctionCall2(enum_in, CStringGetDatum(names[i]), ObjectIdGetDatum(state_type));
    }
    site.clock_descriptor = descriptor;
    MemoryContextSwitchTo(previous);
  });
}

}  // namespace

// ops.business_time(calendar, from, to) RETURNS interval
EXPENSE_OPS_FUNCTION(expense_ops_business_time) {
  const auto& business = calendar_argument(fcinfo, 0);
  return interval_datum(business.elapsed(pg::timestamptz_argument(fcinfo, 1, "from"),
                                         pg::timestamptz_argument(fcinfo, 2, "to")));
}

// ops.add_business_time(calendar, start, duration) RETURNS timestamptz
EXPENSE_OPS_FUNCTION(expense_ops_add_business_time) {
  const auto& business = calendar_argument(fcinfo, 0);
  const auto end = business.add(pg::timestamptz_argument(fcinfo, 1, "start"),
                                duration_argument(fcinfo, 2, "duration"));
  PG_RETURN_TIMESTAMPTZ(pg::to_timestamptz(end));
}

// ops.clock_due(calendar, started, target, pauses) RETURNS timestamptz; NULL while paused
// without end.
EXPENSE_OPS_FUNCTION(expense_ops_clock_due) {
  const auto pauses = pauses_argument(fcinfo, 3);  // before the calendar: see calendar_argument
  const auto& business = calendar_argument(fcinfo, 0);
  const auto due = sla::due(business, pg::timestamptz_argument(fcinfo, 1, "started"),
                            duration_argument(fcinfo, 2, "target"), pauses);
  if (!due) {
    PG_RETURN_NULL();
  }
  PG_RETURN_TIMESTAMPTZ(pg::to_timestamptz(*due));
}

// ops.read_clock(calendar, started, target, stopped, pauses, at_risk_fraction, at)
//   RETURNS ops.sla_clock
EXPENSE_OPS_FUNCTION(expense_ops_read_clock) {
  const auto pauses = pauses_argument(fcinfo, 4);  // before the calendar: see calendar_argument
  const auto& business = calendar_argument(fcinfo, 0);
  const auto reading = sla::read_clock(business, pg::timestamptz_argument(fcinfo, 1, "started"),
                                       duration_argument(fcinfo, 2, "target"),
                                       pg::optional_timestamptz_argument(fcinfo, 3), pauses,
                                       pg::timestamptz_argument(fcinfo, 6, "at"),
                                       pg::float8_argument(fcinfo, 5, "at_risk_fraction"));
  CallSite& site = call_site(fcinfo);
  prepare_clock_result(fcinfo, site);
  Datum values[4];
  bool nulls[4] = {false, !reading.due.has_value(), false, false};
  values[0] = site.clock_states[static_cast<int>(reading.state)];
  values[1] = reading.due ? TimestampTzGetDatum(pg::to_timestamptz(*reading.due)) : Datum(0);
  values[3] = Float8GetDatum(reading.used_fraction);
  // heap_form_tuple copies by-reference values into the tuple: the interval can live here.
  Interval remaining{};
  remaining.time = reading.remaining.count();
  values[2] = PointerGetDatum(&remaining);
  return pg::guarded(
      [&] { return HeapTupleGetDatum(heap_form_tuple(site.clock_descriptor, values, nulls)); });
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

namespace {

// The four milestones and the two stops, in the argument order the SQL functions share:
// (response_at_risk, response_due, resolution_at_risk, resolution_due, first_response, resolved).
sla::TicketMilestones milestones_arguments(FunctionCallInfo fcinfo) {
  return {
      {pg::optional_timestamptz_argument(fcinfo, 0), pg::optional_timestamptz_argument(fcinfo, 1)},
      {pg::optional_timestamptz_argument(fcinfo, 2), pg::optional_timestamptz_argument(fcinfo, 3)}};
}

sla::ClockStops stops_arguments(FunctionCallInfo fcinfo) {
  return {pg::optional_timestamptz_argument(fcinfo, 4),
          pg::optional_timestamptz_argument(fcinfo, 5)};
}

}  // namespace

// ops.ticket_milestones(calendar, opened, response_target, resolution_target, at_risk_fraction,
//     first_response, resolved, pauses, OUT response_at_risk, OUT response_due,
//     OUT resolution_at_risk, OUT resolution_due): what a ticket stores of its clocks.
EXPENSE_OPS_FUNCTION(expense_ops_ticket_milestones) {
  const auto pauses = pauses_argument(fcinfo, 7);  // before the calendar: see calendar_argument
  const auto opened = pg::timestamptz_argument(fcinfo, 1, "opened");
  const auto response_target = duration_argument(fcinfo, 2, "response_target");
  const auto resolution_target = duration_argument(fcinfo, 3, "resolution_target");
  const double fraction = pg::float8_argument(fcinfo, 4, "at_risk_fraction");
  const auto first_response = pg::optional_timestamptz_argument(fcinfo, 5);
  const auto resolved = pg::optional_timestamptz_argument(fcinfo, 6);
  const auto& business = calendar_argument(fcinfo, 0);
  const auto response =
      sla::clock_milestones(business, opened, response_target, first_response, pauses, fraction);
  const auto resolution =
      sla::clock_milestones(business, opened, resolution_target, resolved, pauses, fraction);
  Datum values[4] = {pg::optional_timestamptz_datum(response.at_risk),
                     pg::optional_timestamptz_datum(response.due),
                     pg::optional_timestamptz_datum(resolution.at_risk),
                     pg::optional_timestamptz_datum(resolution.due)};
  bool nulls[4] = {!response.at_risk, !response.due, !resolution.at_risk, !resolution.due};
  return pg::composite_datum(fcinfo, "ops.ticket_milestones", values, nulls);
}

// ops.sla_crossings(response_at_risk, response_due, resolution_at_risk, resolution_due,
//     first_response, resolved, at) RETURNS TABLE (clock text, state ops.sla_clock_state,
//     at timestamptz): the crossings that have happened by `at`.
EXPENSE_OPS_FUNCTION(expense_ops_sla_crossings) {
  const auto crossings = sla::crossings_by(milestones_arguments(fcinfo), stops_arguments(fcinfo),
                                           pg::timestamptz_argument(fcinfo, 6, "at"));
  // The names come from to_string(), whose views are of string literals: .data() ends in NUL.
  struct Row {
    const char* clock;
    const char* state;
    TimestampTz at;
  };
  std::vector<Row> rows;
  rows.reserve(crossings.size());
  for (const auto& crossing : crossings) {
    rows.push_back({sla::to_string(crossing.clock).data(), sla::to_string(crossing.state).data(),
                    pg::to_timestamptz(crossing.at)});
  }
  const Row* data = rows.data();
  const std::size_t count = rows.size();
  pg::guarded([&] {
    InitMaterializedSRF(fcinfo, 0);
    auto* result = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    const Oid state_type = TupleDescAttr(result->setDesc, 1)->atttypid;
    for (std::size_t i = 0; i < count; ++i) {
      Datum values[3] = {CStringGetTextDatum(data[i].clock),
                         DirectFunctionCall2(enum_in, CStringGetDatum(data[i].state),
                                             ObjectIdGetDatum(state_type)),
                         TimestampTzGetDatum(data[i].at)};
      bool nulls[3] = {false, false, false};
      tuplestore_putvalues(result->setResult, result->setDesc, values, nulls);
    }
  });
  return Datum(0);
}

// ops.next_sla_crossing(response_at_risk, response_due, resolution_at_risk, resolution_due,
//     first_response, resolved, after) RETURNS timestamptz: NULL when no running clock will
//     cross again.
EXPENSE_OPS_FUNCTION(expense_ops_next_sla_crossing) {
  const auto next = sla::next_crossing(milestones_arguments(fcinfo), stops_arguments(fcinfo),
                                       pg::timestamptz_argument(fcinfo, 6, "after"));
  if (!next) {
    PG_RETURN_NULL();
  }
  PG_RETURN_TIMESTAMPTZ(pg::to_timestamptz(*next));
}
