// SLA clocks: how much of a target (say, first response within 8 business hours) a ticket has
// used, counting only the business calendar's working time and not the time the clock was paused
// (waiting on the customer, say), and when the target falls due.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include "core/sla_calendar.hpp"
#include "core/time.hpp"

namespace expense_ops::core::sla {

// The clock stands still in [start, end); without an end it is still paused. Pauses may come in
// any order and overlap; empty ones (end <= start) pause nothing.
struct Pause {
  Instant start;
  std::optional<Instant> end;
};

// Working time in [from, to) outside every pause.
std::chrono::microseconds elapsed_excluding_pauses(const BusinessCalendar& calendar, Instant from,
                                                   Instant to, const std::vector<Pause>& pauses);

// The earliest instant at which the clock started at `started` has run for `target`: `started`
// itself for a zero target, std::nullopt when a pause without an end stops the clock before. A
// negative target is a RuleViolation (22X45).
std::optional<Instant> due(const BusinessCalendar& calendar, Instant started,
                           std::chrono::microseconds target, const std::vector<Pause>& pauses);

enum class ClockState { kMet, kOnTrack, kAtRisk, kBreached, kPaused };

// "met", "on_track", "at_risk", "breached", "paused".
std::string_view to_string(ClockState state);

// The two instants a clock crosses: into at_risk, once it has run for at_risk_fraction of its
// target (rounded to the microsecond), and into breached, at its due time. Both count working
// time over the pauses as they stood when the clock stopped (every pause while it runs), and
// are nullopt while a pause without an end holds the clock. The one computation of both
// instants: tickets store it (ops.tickets.*_at_risk_at, *_due_at) and readings use it.
// RuleViolation 22X45 for a negative target, 22X46 for an at_risk_fraction outside (0, 1].
struct ClockMilestones {
  std::optional<Instant> at_risk;
  std::optional<Instant> due;
};
ClockMilestones clock_milestones(const BusinessCalendar& calendar, Instant started,
                                 std::chrono::microseconds target, std::optional<Instant> stopped,
                                 const std::vector<Pause>& pauses, double at_risk_fraction);

// A ticket's two clocks, and where each stops: the first response, and the resolution.
enum class Clock { kResponse, kResolution };
std::string_view to_string(Clock clock);  // "response", "resolution"

struct TicketMilestones {
  ClockMilestones response;
  ClockMilestones resolution;
};
struct ClockStops {
  std::optional<Instant> first_response;
  std::optional<Instant> resolved;
};

// A clock's move into at_risk or breached, at the instant it happened.
struct Crossing {
  Clock clock;
  ClockState state;  // kAtRisk or kBreached
  Instant at;
};

// The crossings that have happened by `now`: each milestone at or before `now` that came before
// its clock stopped. In the order response at_risk, response breached, resolution at_risk,
// resolution breached.
std::vector<Crossing> crossings_by(const TicketMilestones& milestones, const ClockStops& stops,
                                   Instant now);

// The next instant after `after` at which a clock that is still running crosses; nullopt when
// neither will (both stopped, paused without end, or every crossing past).
std::optional<Instant> next_crossing(const TicketMilestones& milestones, const ClockStops& stops,
                                     Instant after);

struct ClockReading {
  ClockState state = ClockState::kOnTrack;
  std::optional<Instant> due;  // none while a pause without an end holds the clock
  // Business time left of the target: at `now`, or at the stop for a stopped clock. Negative once
  // overdue, counting only the working time since.
  std::chrono::microseconds remaining{0};
  double used_fraction = 0;  // elapsed / target; 1 for a zero target
};

// The clock as a reading taken at `now` would have shown it, whatever happened later: a stop after
// `now` has not happened, nor have pauses that start after `now`, and a pause that ends after
// `now` is still open then. A clock stopped by `now` (first response given, ticket resolved) is
// met when it stopped no later than its due time and breached otherwise; pauses count only up to
// the stop. A running clock is paused while `now` lies in a pause (with no due time while that
// pause has no end), breached from its due time on, at risk from its at-risk instant on, and on
// track before; both instants are clock_milestones' over what was known at `now`. RuleViolation
// 22X45 for a negative target, 22X46 for an at_risk_fraction outside (0, 1].
ClockReading read_clock(const BusinessCalendar& calendar, Instant started,
                        std::chrono::microseconds target, std::optional<Instant> stopped,
                        const std::vector<Pause>& pauses, Instant now,
                        double at_risk_fraction = 0.75);

}  // namespace expense_ops::core::sla
