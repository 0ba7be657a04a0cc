// SLA clocks at the SQL boundary. The arithmetic is extension/core/sla_clock; this file converts
// timestamptz, interval and tstzmultirange, and takes its calendars from pg/sla_calendar.
#include <vector>

#include "core/error.hpp"
#include "core/sla_clock.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/sla_calendar.hpp"

namespace {

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;
namespace sla = expense_ops::core::sla;

// ops.read_clock's call site: its calendar, and the result's shape.
struct ClockCallSite {
  pg::CalendarMemo calendar;
  TupleDesc clock_descriptor;
  Datum clock_states[5];  // ops.sla_clock_state values, in ClockState order
};

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

// ops.read_clock's result type and its state values, looked up once per call site.
void prepare_clock_result(FunctionCallInfo fcinfo, ClockCallSite& site) {
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

// ops.clock_due(calendar, started, target, pauses) RETURNS timestamptz; NULL while paused
// without end.
EXPENSE_OPS_FUNCTION(expense_ops_clock_due) {
  const auto pauses = pauses_argument(fcinfo, 3);  // before the calendar: see pg::calendar_argument
  const auto& business = pg::calendar_argument(fcinfo, 0);
  const auto due = sla::due(business, pg::timestamptz_argument(fcinfo, 1, "started"),
                            pg::duration_argument(fcinfo, 2, "target"), pauses);
  if (!due) {
    PG_RETURN_NULL();
  }
  PG_RETURN_TIMESTAMPTZ(pg::to_timestamptz(*due));
}

// ops.read_clock(calendar, started, target, stopped, pauses, at_risk_fraction, at)
//   RETURNS ops.sla_clock
EXPENSE_OPS_FUNCTION(expense_ops_read_clock) {
  const auto pauses = pauses_argument(fcinfo, 4);  // before the calendar: see pg::calendar_argument
  ClockCallSite& site = pg::call_site<ClockCallSite>(fcinfo);
  const auto& business = pg::calendar_argument(fcinfo, 0, site.calendar);
  const auto reading = sla::read_clock(business, pg::timestamptz_argument(fcinfo, 1, "started"),
                                       pg::duration_argument(fcinfo, 2, "target"),
                                       pg::optional_timestamptz_argument(fcinfo, 3), pauses,
                                       pg::timestamptz_argument(fcinfo, 6, "at"),
                                       pg::float8_argument(fcinfo, 5, "at_risk_fraction"));
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
  const auto pauses = pauses_argument(fcinfo, 7);  // before the calendar: see pg::calendar_argument
  const auto opened = pg::timestamptz_argument(fcinfo, 1, "opened");
  const auto response_target = pg::duration_argument(fcinfo, 2, "response_target");
  const auto resolution_target = pg::duration_argument(fcinfo, 3, "resolution_target");
  const double fraction = pg::float8_argument(fcinfo, 4, "at_risk_fraction");
  const auto first_response = pg::optional_timestamptz_argument(fcinfo, 5);
  const auto resolved = pg::optional_timestamptz_argument(fcinfo, 6);
  const auto& business = pg::calendar_argument(fcinfo, 0);
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
