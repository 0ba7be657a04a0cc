// Brute-force protection for one account: five failures within fifteen minutes lock it; the
// lock starts at one minute, doubles with each further lock, and is capped at one hour.
#pragma once

#include <chrono>
#include <optional>

#include "core/time.hpp"

namespace expense_ops::core::lockout {

struct Policy {
  int failures_to_lock = 5;
  std::chrono::minutes window{15};
  std::chrono::minutes first_lock{1};
  std::chrono::minutes longest_lock{60};
};

struct State {
  int failures = 0;  // failures counted in the current window
  std::optional<Instant> window_start;
  int locks = 0;  // locks since the last successful login
  std::optional<Instant> locked_until;
};

bool is_locked(const State& state, Instant now);

// The state after a failed attempt at `now`. Attempts while locked do not extend the lock.
State after_failure(const State& state, Instant now, const Policy& policy = {});

// A successful login forgets failures and past locks.
State after_success();

// How long the n-th lock (1-based) lasts under `policy`.
std::chrono::minutes lock_duration(int lock_number, const Policy& policy = {});

}  // namespace expense_ops::core::lockout
