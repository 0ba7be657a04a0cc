// The decision behind api.login: given what the database knows about the account and the
// client address, refuse or accept the attempt, check the password, and say what to store.
//
// Checks, in order; the first that applies is the reason:
//   ip_throttled    the client address has had address_failure_limit or more failed attempts
//                   within address_window (the caller counts them, under a lock)
//   unknown_email   no account has this email
//   no_password     the account has no password hash (it cannot log in with a password)
//   disabled        the account is disabled
//   locked          the account is locked (core/lockout.hpp) at `now`, the attempt's time
//   wrong_password  the password does not match the stored hash
//   ok              it matches
//
// Timing: every path that refuses costs exactly one argon2id computation at the current
// parameters (password::argon2id_computations() counts them), whether the refusal is decided
// before the password check or by it, so how long a refusal takes tells nothing about which
// reason it had. A bcrypt account adds its bcrypt on top until its first successful login
// (see password::verify). Success costs one argon2id, plus one more when the hash is replaced.
//
// The caller must answer every refusal alike ("invalid credentials"); the reason is for the
// record (iam.login_attempts.reason), never for the client.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/lockout.hpp"
#include "core/password.hpp"
#include "core/time.hpp"

namespace expense_ops::core::login {

enum class Reason {
  kOk,
  kUnknownEmail,
  kNoPassword,
  kDisabled,
  kLocked,
  kAddressThrottled,
  kWrongPassword,
};

// The name recorded in iam.login_attempts.reason: "ok", "unknown_email", "no_password",
// "disabled", "locked", "ip_throttled", "wrong_password".
std::string_view to_string(Reason reason);

struct Account {
  std::optional<std::string_view> password_hash;  // argon2id PHC or bcrypt; nullopt: none set
  bool disabled = false;
  lockout::State lockout;
};

// The views must outlive decide().
struct Attempt {
  std::optional<Account> account;  // nullopt: no account has the email given
  std::string_view password;       // as given; pass "" for SQL NULL
  // Failed attempts from the client address (core/client_address.hpp) within address_window.
  std::int64_t recent_failures_from_address = 0;
};

struct Policy {
  std::int64_t address_failure_limit = 20;
  std::chrono::minutes address_window{15};  // not read here: the window the caller counts in
  lockout::Policy lockout;
  password::Argon2Parameters argon2 = password::kOwasp;
};

struct Decision {
  Reason reason = Reason::kUnknownEmail;
  // The account's lockout state to store: after_failure() on a wrong password, after_success()
  // on success, the given state otherwise (a default State when there is no account).
  lockout::State lockout;
  // Set only on success when the stored hash is bcrypt or argon2id with parameters weaker than
  // policy.argon2: the new argon2id PHC string to store in its place.
  std::optional<std::string> new_password_hash;

  bool succeeded() const { return reason == Reason::kOk; }
};

// Performs the password work itself (verify, or spend a verification on a refusal), so that
// what each path costs is decided here and nowhere else. Throws only what password::hash()
// throws (the random generator or libargon2 failing).
Decision decide(const Attempt& attempt, Instant now, const Policy& policy = {});

}  // namespace expense_ops::core::login
