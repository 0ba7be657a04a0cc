#include "core/sla_clock.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace expense_ops::core::sla {

namespace {

using std::chrono::microseconds;

// Sorted, disjoint, non-touching pauses. A pause without an end swallows every later one.
std::vector<Pause> normalise(std::vector<Pause> pauses) {
  pauses.erase(
      std::remove_if(pauses.begin(), pauses.end(),
                     [](const Pause& pause) { return pause.end && *pause.end <= pause.start; }),
      pauses.end());
  std::sort(pauses.begin(), pauses.end(),
            [](const Pause& a, const Pause& b) { return a.start < b.start; });
  std::vector<Pause> merged;
  for (const auto& pause : pauses) {
    if (merged.empty() || (merged.back().end && *merged.back().end < pause.start)) {
      merged.push_back(pause);
      continue;
    }
    auto& last = merged.back();
    if (last.end) {
      last.end = pause.end ? std::max(*last.end, *pause.end) : pause.end;
    }
  }
  return merged;
}

void require_non_negative(microseconds target) {
  if (target < microseconds{0}) {
    throw RuleViolation(sqlstate::kSlaTargetNegative, "SLA target must not be negative",
                        "Give a target of zero or more, such as 8 hours.");
  }
}

microseconds excluding_normalised(const BusinessCalendar& calendar, Instant from, Instant to,
                                  const std::vector<Pause>& pauses) {
  auto worked = calendar.elapsed(from, to);
  for (const auto& pause : pauses) {
    const Instant paused_from = std::max(pause.start, from);
    const Instant paused_to = pause.end ? std::min(*pause.end, to) : to;
    worked -= calendar.elapsed(paused_from, paused_to);
  }
  return worked;
}

std::optional<Instant> due_normalised(const BusinessCalendar& calendar, Instant started,
                                      microseconds target, const std::vector<Pause>& pauses) {
  if (target == microseconds{0}) {
    return started;
  }
  Instant running_from = started;
  auto remaining = target;
  for (const auto& pause : pauses) {
    if (pause.end && *pause.end <= running_from) {
      continue;
    }
    if (pause.start > running_from) {
      const Instant unpaused_due = calendar.add(running_from, remaining);
      if (unpaused_due <= pause.start) {
        return unpaused_due;
      }
      remaining -= calendar.elapsed(running_from, pause.start);
    }
    if (!pause.end) {
      return std::nullopt;
    }
    running_from = *pause.end;
  }
  return calendar.add(running_from, remaining);
}

// The pauses as they stood when the clock stopped: later ones never happened, open ones ended.
std::vector<Pause> clipped_at(const std::vector<Pause>& pauses, Instant stop) {
  std::vector<Pause> clipped;
  for (const auto& pause : pauses) {
    if (pause.start < stop) {
      clipped.push_back({pause.start, pause.end ? std::min(*pause.end, stop) : stop});
    }
  }
  return clipped;
}

double fraction_used(microseconds worked, microseconds target) {
  if (target == microseconds{0}) {
    return 1.0;
  }
  return static_cast<double>(worked.count()) / static_cast<double>(target.count());
}

}  // namespace

std::chrono::microseconds elapsed_excluding_pauses(const BusinessCalendar& calendar, Instant from,
                                                   Instant to, const std::vector<Pause>& pauses) {
  if (to <= from) {
    return microseconds{0};
  }
  return excluding_normalised(calendar, from, to, normalise(pauses));
}

std::optional<Instant> due(const BusinessCalendar& calendar, Instant started,
                           std::chrono::microseconds target, const std::vector<Pause>& pauses) {
  require_non_negative(target);
  return due_normalised(calendar, started, target, normalise(pauses));
}

std::string_view to_string(ClockState state) {
  switch (state) {
    case ClockState::kMet:
      return "met";
    case ClockState::kOnTrack:
      return "on_track";
    case ClockState::kAtRisk:
      return "at_risk";
    case ClockState::kBreached:
      return "breached";
    case ClockState::kPaused:
      return "paused";
  }
  return "unknown";
}

namespace {

void require_share(double at_risk_fraction) {
  // Written so that NaN fails too.
  if (!(at_risk_fraction > 0.0 && at_risk_fraction <= 1.0)) {
    throw RuleViolation(
        sqlstate::kSlaAtRiskFraction,
        "at_risk_fraction " + std::to_string(at_risk_fraction) + " is not in (0, 1]",
        "Give the share of the target after which a clock is at risk, such as "
        "0.75; 1 means never before it is due.");
  }
}

ClockMilestones milestones_normalised(const BusinessCalendar& calendar, Instant started,
                                      microseconds target, const std::vector<Pause>& pauses,
                                      double at_risk_fraction) {
  const microseconds at_risk_target{
      std::llround(static_cast<double>(target.count()) * at_risk_fraction)};
  return {due_normalised(calendar, started, at_risk_target, pauses),
          due_normalised(calendar, started, target, pauses)};
}

}  // namespace

ClockMilestones clock_milestones(const BusinessCalendar& calendar, Instant started,
                                 std::chrono::microseconds target, std::optional<Instant> stopped,
                                 const std::vector<Pause>& pauses, double at_risk_fraction) {
  require_non_negative(target);
  require_share(at_risk_fraction);
  return milestones_normalised(calendar, started, target,
                               normalise(stopped ? clipped_at(pauses, *stopped) : pauses),
                               at_risk_fraction);
}

std::string_view to_string(Clock clock) {
  return clock == Clock::kResponse ? "response" : "resolution";
}

namespace {

// Each of the four milestones with the stop of its clock, in the order crossings are listed.
struct Milestone {
  Clock clock;
  ClockState state;
  std::optional<Instant> at;
  std::optional<Instant> stopped;
};

std::array<Milestone, 4> each_milestone(const TicketMilestones& milestones,
                                        const ClockStops& stops) {
  return {
      {{Clock::kResponse, ClockState::kAtRisk, milestones.response.at_risk, stops.first_response},
       {Clock::kResponse, ClockState::kBreached, milestones.response.due, stops.first_response},
       {Clock::kResolution, ClockState::kAtRisk, milestones.resolution.at_risk, stops.resolved},
       {Clock::kResolution, ClockState::kBreached, milestones.resolution.due, stops.resolved}}};
}

}  // namespace

std::vector<Crossing> crossings_by(const TicketMilestones& milestones, const ClockStops& stops,
                                   Instant now) {
  std::vector<Crossing> crossings;
  for (const auto& milestone : each_milestone(milestones, stops)) {
    if (milestone.at && *milestone.at <= now &&
        (!milestone.stopped || *milestone.at < *milestone.stopped)) {
      crossings.push_back({milestone.clock, milestone.state, *milestone.at});
    }
  }
  return crossings;
}

std::optional<Instant> next_crossing(const TicketMilestones& milestones, const ClockStops& stops,
                                     Instant after) {
  std::optional<Instant> next;
  for (const auto& milestone : each_milestone(milestones, stops)) {
    if (!milestone.stopped && milestone.at && *milestone.at > after &&
        (!next || *milestone.at < *next)) {
      next = milestone.at;
    }
  }
  return next;
}

ClockReading read_clock(const BusinessCalendar& calendar, Instant started,
                        std::chrono::microseconds target, std::optional<Instant> stopped,
                        const std::vector<Pause>& pauses, Instant now, double at_risk_fraction) {
  require_non_negative(target);
  require_share(at_risk_fraction);

  ClockReading reading;
  // A reading shows the clock as it stood at `now`: a later stop has not happened yet.
  if (stopped && *stopped <= now) {
    const auto stop_pauses = normalise(clipped_at(pauses, *stopped));
    reading.due =
        due_normalised(calendar, started, target, stop_pauses);  // its at-risk instant is past
    const auto worked = excluding_normalised(calendar, started, *stopped, stop_pauses);
    reading.state = *stopped <= *reading.due ? ClockState::kMet : ClockState::kBreached;
    reading.remaining = target - worked;
    reading.used_fraction = fraction_used(worked, target);
    return reading;
  }

  // Pauses that start later have not happened, and one that ends later had no end yet: it holds
  // the clock, and the due time is unknown.
  std::vector<Pause> happened;
  happened.reserve(pauses.size());
  for (const auto& pause : pauses) {
    if (pause.start <= now) {
      happened.push_back({pause.start, pause.end && *pause.end <= now ? pause.end : std::nullopt});
    }
  }
  happened = normalise(std::move(happened));
  const ClockMilestones milestones =
      milestones_normalised(calendar, started, target, happened, at_risk_fraction);
  reading.due = milestones.due;
  const auto worked = excluding_normalised(calendar, started, now, happened);
  reading.remaining = target - worked;
  reading.used_fraction = fraction_used(worked, target);

  const bool paused_now = std::any_of(happened.begin(), happened.end(), [now](const Pause& pause) {
    return pause.start <= now && (!pause.end || now < *pause.end);
  });
  if (paused_now) {
    reading.state = ClockState::kPaused;
  } else if (milestones.due && now >= *milestones.due) {
    reading.state = ClockState::kBreached;
  } else if (milestones.at_risk && now >= *milestones.at_risk) {
    reading.state = ClockState::kAtRisk;
  } else {
    reading.state = ClockState::kOnTrack;
  }
  return reading;
}

}  // namespace expense_ops::core::sla
