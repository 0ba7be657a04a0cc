#include "worker/check_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace expense_ops::worker {

namespace {

SteadyClock::duration steady(Seconds seconds) {
  return std::chrono::duration_cast<SteadyClock::duration>(seconds);
}

// FNV-1a: a spread that is the same for a check id in every process and on every host.
std::uint64_t stable_hash(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

}  // namespace

Seconds CheckScheduler::offset(const std::string& id, Seconds every) const {
  const double span_ms = std::min(every, max_spread_).count() * 1000;
  if (span_ms < 1) {
    return Seconds(0);
  }
  const auto slot = stable_hash(id) % static_cast<std::uint64_t>(span_ms);
  return Seconds(static_cast<double>(slot) / 1000);
}

void CheckScheduler::reload(const std::vector<ScheduledCheck>& checks, SteadyTime now) {
  std::map<std::string, State> next;
  for (const ScheduledCheck& check : checks) {
    const auto kept = checks_.find(check.id);
    if (kept != checks_.end() && kept->second.every == check.every) {
      next.emplace(check.id, kept->second);
    } else {
      const bool running = kept != checks_.end() && kept->second.running;
      next.emplace(check.id,
                   State{check.every, now + steady(offset(check.id, check.every)), running});
    }
  }
  checks_ = std::move(next);
}

std::vector<std::string> CheckScheduler::due(SteadyTime now) const {
  std::vector<std::string> ids;
  for (const auto& [id, state] : checks_) {
    if (!state.running && state.next_due <= now) {
      ids.push_back(id);
    }
  }
  return ids;
}

void CheckScheduler::started(const std::string& id) {
  const auto check = checks_.find(id);
  if (check != checks_.end()) {
    check->second.running = true;
  }
}

std::size_t CheckScheduler::finished(const std::string& id, SteadyTime now) {
  const auto check = checks_.find(id);
  if (check == checks_.end()) {
    return 0;  // removed while it ran
  }
  State& state = check->second;
  state.running = false;
  const auto every = steady(state.every);
  const SteadyTime on_cadence = state.next_due + every;
  if (on_cadence > now) {
    state.next_due = on_cadence;
    return 0;
  }
  const auto skipped = (now - state.next_due) / every;
  // Keep the phase: the next slot of the same cadence that is still ahead.
  state.next_due += every * (skipped + 1);
  return static_cast<std::size_t>(skipped);
}

std::optional<SteadyTime> CheckScheduler::next_wake() const {
  std::optional<SteadyTime> earliest;
  for (const auto& [id, state] : checks_) {
    if (!state.running && (!earliest || state.next_due < *earliest)) {
      earliest = state.next_due;
    }
  }
  return earliest;
}

bool CheckScheduler::running(const std::string& id) const {
  const auto check = checks_.find(id);
  return check != checks_.end() && check->second.running;
}

std::vector<WallTime> missed_slots(WallTime last_started, Seconds every, WallTime now,
                                   std::size_t limit) {
  std::vector<WallTime> slots;
  const auto step = std::chrono::duration_cast<WallClock::duration>(every);
  if (step <= WallClock::duration::zero() || limit == 0 || now <= last_started) {
    return slots;
  }
  // Slot k (k >= 1) starts at last_started + k * step and is missed once it has ended:
  // last_started + (k + 1) * step <= now.
  const long long whole = (now - last_started) / step;  // intervals since the last start
  const long long last_k = whole - 1;
  if (last_k < 1) {
    return slots;
  }
  const long long first_k = std::max(1LL, last_k - static_cast<long long>(limit) + 1);
  for (long long k = first_k; k <= last_k; ++k) {
    slots.emplace_back(last_started + step * k);
  }
  return slots;
}

bool wall_clock_jumped(WallTime wall_before, SteadyTime steady_before, WallTime wall_now,
                       SteadyTime steady_now, Seconds tolerance) {
  const Seconds wall = std::chrono::duration_cast<Seconds>(wall_now - wall_before);
  const Seconds elapsed = std::chrono::duration_cast<Seconds>(steady_now - steady_before);
  return std::abs((wall - elapsed).count()) > tolerance.count();
}

}  // namespace expense_ops::worker
