#include "core/login.hpp"

namespace expense_ops::core::login {

namespace {

// The reason to refuse before looking at the password, or kOk to go on and check it.
Reason refusal_before_password(const Attempt& attempt, Instant now, const Policy& policy) {
  // First: a throttled address is refused whatever account it names, and the record shows the
  // throttle at work rather than the guesses it stopped.
  if (attempt.recent_failures_from_address >= policy.address_failure_limit) {
    return Reason::kAddressThrottled;
  }
  if (!attempt.account) {
    return Reason::kUnknownEmail;
  }
  const Account& account = *attempt.account;
  if (!account.password_hash) {
    return Reason::kNoPassword;
  }
  if (account.disabled) {
    return Reason::kDisabled;
  }
  if (lockout::is_locked(account.lockout, now)) {
    return Reason::kLocked;
  }
  return Reason::kOk;
}

}  // namespace

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::kOk:
      return "ok";
    case Reason::kUnknownEmail:
      return "unknown_email";
    case Reason::kNoPassword:
      return "no_password";
    case Reason::kDisabled:
      return "disabled";
    case Reason::kLocked:
      return "locked";
    case Reason::kAddressThrottled:
      return "ip_throttled";
    case Reason::kWrongPassword:
      return "wrong_password";
  }
  return "unknown_email";
}

Decision decide(const Attempt& attempt, Instant now, const Policy& policy) {
  Decision decision;
  if (attempt.account) {
    decision.lockout = attempt.account->lockout;
  }
  decision.reason = refusal_before_password(attempt, now, policy);
  if (decision.reason != Reason::kOk) {
    password::spend_a_verification(attempt.password, policy.argon2);
    return decision;
  }

  // verify() spends one argon2id whatever the stored hash and the password are.
  const password::Verdict verdict =
      password::verify(attempt.password, *attempt.account->password_hash, policy.argon2);
  if (verdict == password::Verdict::kMismatch) {
    decision.reason = Reason::kWrongPassword;
    decision.lockout = lockout::after_failure(decision.lockout, now, policy.lockout);
    return decision;
  }
  decision.lockout = lockout::after_success();
  if (verdict == password::Verdict::kMatchButRehash) {
    decision.new_password_hash = password::hash(attempt.password, policy.argon2);
  }
  return decision;
}

}  // namespace expense_ops::core::login
