// Capped exponential backoff for reconnecting: initial, 2x, 4x, ... up to the cap.
#pragma once

#include <algorithm>

#include "worker/config.hpp"

namespace expense_ops::worker {

class Backoff {
 public:
  Backoff(Seconds initial, Seconds cap)
      : initial_(initial), cap_(std::max(cap, initial)), next_(initial) {}

  // The delay before the next attempt; each call doubles the following one, up to the cap.
  Seconds next() {
    const Seconds delay = next_;
    next_ = std::min(next_ * 2.0, cap_);
    return delay;
  }

  // After a success the next failure starts again from the initial delay.
  void reset() { next_ = initial_; }

 private:
  Seconds initial_;
  Seconds cap_;
  Seconds next_;
};

}  // namespace expense_ops::worker
