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
// pause has no end), breached from its due time on, at risk once it has used `at_risk_fraction`
// of its target, and on track before. RuleViolation 22X45 for a negative target, 22X46 for an
// at_risk_fraction outside (0, 1].
ClockReading read_clock(const BusinessCalendar& calendar, Instant started,
                        std::chrono::microseconds target, std::optional<Instant> stopped,
                        const std::vector<Pause>& pauses, Instant now,
                        double at_risk_fraction = 0.75);

}  // namespace expense_ops::core::sla
