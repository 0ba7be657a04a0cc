// When each check runs (issue 11, section 1), in plain C++ that takes the time as an argument.
//
// - Each check keeps its interval on the steady clock, from an offset that spreads the checks
//   over their first interval (stable for a check id), so a hundred 30 s checks do not fire in
//   the same instant.
// - A check runs at most once at a time. A run that outlasts its interval skips the runs it
//   missed, which are counted, not queued.
// - Reloading keeps the rhythm of a check whose interval did not change.
// - Runs missed while the worker was down, or across a wall-clock jump, are not replayed: they
//   are the slots missed_slots() lists, which the worker records as unknown (worker_down).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "worker/config.hpp"
#include "worker/schedule.hpp"

namespace expense_ops::worker {

using WallClock = std::chrono::system_clock;
using WallTime = WallClock::time_point;

struct ScheduledCheck {
  std::string id;
  Seconds every;
};

class CheckScheduler {
 public:
  // The first run of a new check comes within min(every, max_spread) of its arrival.
  explicit CheckScheduler(Seconds max_spread = Seconds(10)) : max_spread_(max_spread) {}

  // Replaces the checks. A check still there with the same interval keeps its next run and
  // whether it is running; a new one, or one whose interval changed, starts after its offset.
  // A running check that is gone finishes, and its result is still recorded.
  void reload(const std::vector<ScheduledCheck>& checks, SteadyTime now);

  // The checks due by `now` that are not running, in id order.
  std::vector<std::string> due(SteadyTime now) const;

  void started(const std::string& id);

  // A run ended at `now`. The next is one interval after the due instant the run served; if
  // that has passed too, the slots in between are dropped and their number returned.
  std::size_t finished(const std::string& id, SteadyTime now);

  // The earliest instant a check that is not running is due; nullopt with none.
  std::optional<SteadyTime> next_wake() const;

  bool running(const std::string& id) const;
  std::size_t size() const { return checks_.size(); }

 private:
  struct State {
    Seconds every;
    SteadyTime next_due;
    bool running = false;
  };
  Seconds offset(const std::string& id, Seconds every) const;

  Seconds max_spread_;
  std::map<std::string, State> checks_;
};

// The slots a check that runs every `every` should have started in after `last_started` and
// did not: last_started + k * every (k >= 1) whose whole interval ended by `now`. At most
// `limit`, the latest ones: older gaps stay gaps, which uptime counts as unknown all the same.
std::vector<WallTime> missed_slots(WallTime last_started, Seconds every, WallTime now,
                                   std::size_t limit);

// Whether the wall clock moved differently from the steady clock between two readings of both,
// by more than `tolerance`: a step of the system clock, or a suspended host (the steady clock
// stops while the host sleeps).
bool wall_clock_jumped(WallTime wall_before, SteadyTime steady_before, WallTime wall_now,
                       SteadyTime steady_now, Seconds tolerance);

}  // namespace expense_ops::worker
