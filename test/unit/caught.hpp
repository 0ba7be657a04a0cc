// The RuleViolation an action raises, for tests that check its code, message and hint.
#pragma once

#include <gtest/gtest.h>

#include <functional>

#include "core/error.hpp"

namespace expense_ops::test {

inline core::RuleViolation caught(const std::function<void()>& action) {
  try {
    action();
  } catch (const core::RuleViolation& violation) {
    return violation;
  }
  ADD_FAILURE() << "expected a RuleViolation";
  return core::RuleViolation("none", "none");
}

}  // namespace expense_ops::test
