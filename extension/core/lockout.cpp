#include "core/lockout.hpp"

#include <algorithm>

namespace expense_ops::core::lockout {

bool is_locked(const State& state, Instant now) {
  return state.locked_until && now < *state.locked_until;
}

std::chrono::minutes lock_duration(int lock_number, const Policy& policy) {
  auto duration = policy.first_lock;
  for (int i = 1; i < lock_number && duration < policy.longest_lock; ++i) {
    duration *= 2;
  }
  return std::min(duration, policy.longest_lock);
}

State after_failure(const State& state, Instant now, const Policy& policy) {
  if (is_locked(state, now)) {
    return state;
  }
  State next = state;
  next.locked_until.reset();
  if (!next.window_start || now - *next.window_start >= policy.window) {
    next.window_start = now;
    next.failures = 0;
  }
  ++next.failures;
  if (next.failures >= policy.failures_to_lock) {
    ++next.locks;
    next.locked_until = now + lock_duration(next.locks, policy);
    next.failures = 0;
    next.window_start.reset();
  }
  return next;
}

State after_success() {
  return State{};
}

}  // namespace expense_ops::core::lockout
