// SLA calendars as arguments of the SQL functions, shared by the calendar functions
// (pg/sla_calendar.cpp) and the clocks that run on a calendar (pg/sla_clock.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>

#include "core/sla_calendar.hpp"
#include "pg/boundary.hpp"
#include "pg/postgres_headers.hpp"

namespace expense_ops::pg {

// What one call site (one expression in one query) remembers between rows of the calendar it
// last named. A query over many tickets names the same calendar on every row; this skips the
// text copy and the hash lookup. All zero is "nothing remembered": the cache's generations
// start at 1.
struct CalendarMemo {
  char name[64];
  int name_length;
  std::uint64_t generation;                     // the cache's generation when remembered
  const core::sla::BusinessCalendar* calendar;  // kept alive by the cache until it is cleared
};

// The state a call site keeps in fn_extra, zeroed on its first call: a State must be valid as
// all zero bytes.
template <typename State>
State& call_site(FunctionCallInfo fcinfo) {
  static_assert(std::is_trivial_v<State>, "fn_extra is zeroed memory, never constructed");
  if (fcinfo->flinfo->fn_extra == nullptr) {
    fcinfo->flinfo->fn_extra =
        guarded([&] { return MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(State)); });
  }
  return *static_cast<State*>(fcinfo->flinfo->fn_extra);
}

// The calendar named by argument `index`, loaded from ops.calendars* on first use. 22004 for
// NULL; 22023 for a calendar that does not exist.
//
// The reference stays valid until PostgreSQL next processes invalidations, which any catalog
// access may do: take it after converting the other arguments, and drop it before calling
// into PostgreSQL again.
const core::sla::BusinessCalendar& calendar_argument(FunctionCallInfo fcinfo, int index,
                                                     CalendarMemo& memo);

// The same, for a call site that keeps nothing but its calendar in fn_extra.
inline const core::sla::BusinessCalendar& calendar_argument(FunctionCallInfo fcinfo, int index) {
  return calendar_argument(fcinfo, index, call_site<CalendarMemo>(fcinfo));
}

// Targets are working time: "4 hours" is four working hours. Months have no fixed length and
// are refused; a day is 24 hours of working time.
std::chrono::microseconds duration_argument(FunctionCallInfo fcinfo, int index, const char* name);

}  // namespace expense_ops::pg
