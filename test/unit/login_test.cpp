#include "core/login.hpp"

#include <gtest/gtest.h>

namespace login = expense_ops::core::login;
namespace lockout = expense_ops::core::lockout;
namespace password = expense_ops::core::password;
using expense_ops::core::Instant;
using login::Reason;
using std::chrono::minutes;

namespace {

const Instant kNow = Instant(std::chrono::microseconds(1'795'710'343'000'000LL));

// Cheap argon2id keeps most tests fast; the production parameters have tests of their own.
constexpr password::Argon2Parameters kCheap{64, 1, 1};
const login::Policy kCheapPolicy = [] {
  login::Policy policy;
  policy.argon2 = kCheap;
  return policy;
}();

// crypt(3) bcrypt hash of "secret" with cost 4, as an import from another system carries it.
constexpr std::string_view kBcryptOfSecret =
    "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW";

const std::string kOverlong(password::kMaxPasswordBytes + 1, 'x');

// An account with a history: two failures in the current window.
lockout::State some_failures() {
  lockout::State state;
  state.failures = 2;
  state.window_start = kNow - minutes(3);
  return state;
}

lockout::State locked() {
  lockout::State state;
  state.locks = 1;
  state.locked_until = kNow + minutes(1);
  return state;
}

login::Account account_with(std::string_view stored_hash) {
  login::Account account;
  account.password_hash = stored_hash;
  account.lockout = some_failures();
  return account;
}

login::Attempt attempt_on(std::optional<login::Account> account, std::string_view password) {
  login::Attempt attempt;
  attempt.account = account;
  attempt.password = password;
  return attempt;
}

void expect_same_state(const lockout::State& actual, const lockout::State& expected) {
  EXPECT_EQ(actual.failures, expected.failures);
  EXPECT_EQ(actual.window_start, expected.window_start);
  EXPECT_EQ(actual.locks, expected.locks);
  EXPECT_EQ(actual.locked_until, expected.locked_until);
}

struct Outcome {
  login::Decision decision;
  std::uint64_t argon2id_computations;
};

Outcome decide(const login::Attempt& attempt, const login::Policy& policy = kCheapPolicy) {
  const std::uint64_t before = password::argon2id_computations();
  login::Decision decision = login::decide(attempt, kNow, policy);
  return {std::move(decision), password::argon2id_computations() - before};
}

}  // namespace

TEST(Login, ReasonsKeepTheirRecordedNames) {
  EXPECT_EQ(login::to_string(Reason::kOk), "ok");
  EXPECT_EQ(login::to_string(Reason::kUnknownEmail), "unknown_email");
  EXPECT_EQ(login::to_string(Reason::kNoPassword), "no_password");
  EXPECT_EQ(login::to_string(Reason::kDisabled), "disabled");
  EXPECT_EQ(login::to_string(Reason::kLocked), "locked");
  EXPECT_EQ(login::to_string(Reason::kAddressThrottled), "ip_throttled");
  EXPECT_EQ(login::to_string(Reason::kWrongPassword), "wrong_password");
}

TEST(Login, UnknownEmailCostsOneArgon2id) {
  const auto outcome = decide(attempt_on(std::nullopt, "secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kUnknownEmail);
  EXPECT_FALSE(outcome.decision.succeeded());
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  expect_same_state(outcome.decision.lockout, lockout::State{});
  EXPECT_FALSE(outcome.decision.new_password_hash);
}

TEST(Login, OverlongPasswordForAnUnknownEmailCostsOneArgon2id) {
  const auto outcome = decide(attempt_on(std::nullopt, kOverlong));
  EXPECT_EQ(outcome.decision.reason, Reason::kUnknownEmail);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
}

TEST(Login, AccountWithoutPasswordCostsOneArgon2id) {
  login::Account account;
  account.lockout = some_failures();
  const auto outcome = decide(attempt_on(account, "secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kNoPassword);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  expect_same_state(outcome.decision.lockout, some_failures());
}

TEST(Login, DisabledAccountIsRefusedEvenWithTheRightPasswordAtOneArgon2id) {
  const std::string stored = password::hash("secret", kCheap);
  auto account = account_with(stored);
  account.disabled = true;
  const auto outcome = decide(attempt_on(account, "secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kDisabled);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  expect_same_state(outcome.decision.lockout, some_failures());
  EXPECT_FALSE(outcome.decision.new_password_hash);
}

TEST(Login, LockedAccountIsRefusedEvenWithTheRightPasswordAtOneArgon2id) {
  const std::string stored = password::hash("secret", kCheap);
  auto account = account_with(stored);
  account.lockout = locked();
  const auto outcome = decide(attempt_on(account, "secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kLocked);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  expect_same_state(outcome.decision.lockout, locked());  // not extended, not counted
}

TEST(Login, AnExpiredLockNoLongerRefuses) {
  const std::string stored = password::hash("secret", kCheap);
  auto account = account_with(stored);
  account.lockout.locked_until = kNow;
  EXPECT_EQ(decide(attempt_on(account, "secret")).decision.reason, Reason::kOk);
}

TEST(Login, ThrottledAddressIsRefusedEvenWithTheRightPasswordAtOneArgon2id) {
  const std::string stored = password::hash("secret", kCheap);
  auto attempt = attempt_on(account_with(stored), "secret");
  attempt.recent_failures_from_address = 20;
  const auto outcome = decide(attempt);
  EXPECT_EQ(outcome.decision.reason, Reason::kAddressThrottled);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  expect_same_state(outcome.decision.lockout, some_failures());

  attempt.recent_failures_from_address = 19;
  EXPECT_EQ(decide(attempt).decision.reason, Reason::kOk);

  login::Policy stricter = kCheapPolicy;
  stricter.address_failure_limit = 5;
  attempt.recent_failures_from_address = 5;
  EXPECT_EQ(decide(attempt, stricter).decision.reason, Reason::kAddressThrottled);
}

TEST(Login, WrongPasswordCostsOneArgon2idAndCountsTowardsTheLock) {
  const std::string stored = password::hash("secret", kCheap);
  const auto outcome = decide(attempt_on(account_with(stored), "Secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kWrongPassword);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  expect_same_state(outcome.decision.lockout, lockout::after_failure(some_failures(), kNow));
  EXPECT_EQ(outcome.decision.lockout.failures, 3);
  EXPECT_FALSE(outcome.decision.new_password_hash);
}

TEST(Login, TheFifthWrongPasswordLocks) {
  const std::string stored = password::hash("secret", kCheap);
  auto account = account_with(stored);
  account.lockout.failures = 4;
  const auto outcome = decide(attempt_on(account, "Secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kWrongPassword);
  EXPECT_TRUE(lockout::is_locked(outcome.decision.lockout, kNow));
}

TEST(Login, OverlongPasswordForAKnownAccountIsAWrongPasswordAtOneArgon2id) {
  const std::string stored = password::hash("secret", kCheap);
  const auto outcome = decide(attempt_on(account_with(stored), kOverlong));
  EXPECT_EQ(outcome.decision.reason, Reason::kWrongPassword);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  EXPECT_EQ(outcome.decision.lockout.failures, 3);
}

TEST(Login, StoredValueThatIsNoHashIsAWrongPasswordAtOneArgon2id) {
  const auto outcome = decide(attempt_on(account_with("!disabled-by-import"), "secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kWrongPassword);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
}

TEST(Login, BcryptAccountWithAWrongPasswordCostsOneArgon2id) {
  // On top of the bcrypt itself; see password::verify.
  const auto outcome = decide(attempt_on(account_with(kBcryptOfSecret), "Secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kWrongPassword);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  EXPECT_EQ(outcome.decision.lockout.failures, 3);
  EXPECT_FALSE(outcome.decision.new_password_hash);
}

TEST(Login, BcryptAccountWithTheRightPasswordSucceedsAndIsRehashed) {
  const auto outcome = decide(attempt_on(account_with(kBcryptOfSecret), "secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kOk);
  EXPECT_TRUE(outcome.decision.succeeded());
  // The argon2id every bcrypt verification spends, and the new hash.
  EXPECT_EQ(outcome.argon2id_computations, 2u);
  expect_same_state(outcome.decision.lockout, lockout::after_success());
  ASSERT_TRUE(outcome.decision.new_password_hash);
  const std::string& rehashed = *outcome.decision.new_password_hash;
  EXPECT_EQ(rehashed.rfind("$argon2id$v=19$m=64,t=1,p=1$", 0), 0u) << rehashed;
  EXPECT_EQ(password::verify("secret", rehashed, kCheap), password::Verdict::kMatch);
}

TEST(Login, Argon2idAccountWithTheRightPasswordSucceedsAtOneArgon2id) {
  const std::string stored = password::hash("secret", kCheap);
  const auto outcome = decide(attempt_on(account_with(stored), "secret"));
  EXPECT_EQ(outcome.decision.reason, Reason::kOk);
  EXPECT_EQ(outcome.argon2id_computations, 1u);
  expect_same_state(outcome.decision.lockout, lockout::after_success());
  EXPECT_FALSE(outcome.decision.new_password_hash);
}

TEST(Login, WeakerArgon2idIsRehashedOnSuccess) {
  const std::string stored = password::hash("secret", kCheap);
  login::Policy stronger = kCheapPolicy;
  stronger.argon2 = {128, 1, 1};
  const auto outcome = decide(attempt_on(account_with(stored), "secret"), stronger);
  EXPECT_EQ(outcome.decision.reason, Reason::kOk);
  EXPECT_EQ(outcome.argon2id_computations, 2u);  // the verification and the new hash
  ASSERT_TRUE(outcome.decision.new_password_hash);
  EXPECT_EQ(outcome.decision.new_password_hash->rfind("$argon2id$v=19$m=128,t=1,p=1$", 0), 0u);
}

TEST(Login, ChecksComeInTheirOrder) {
  const std::string stored = password::hash("secret", kCheap);
  login::Account everything_wrong;  // no password, disabled, locked
  everything_wrong.disabled = true;
  everything_wrong.lockout = locked();

  auto attempt = attempt_on(std::nullopt, "Secret");
  attempt.recent_failures_from_address = 1000;
  EXPECT_EQ(decide(attempt).decision.reason, Reason::kAddressThrottled);
  attempt.account = everything_wrong;
  EXPECT_EQ(decide(attempt).decision.reason, Reason::kAddressThrottled);

  attempt.recent_failures_from_address = 0;
  attempt.account = std::nullopt;
  EXPECT_EQ(decide(attempt).decision.reason, Reason::kUnknownEmail);

  attempt.account = everything_wrong;
  EXPECT_EQ(decide(attempt).decision.reason, Reason::kNoPassword);

  attempt.account->password_hash = stored;
  EXPECT_EQ(decide(attempt).decision.reason, Reason::kDisabled);

  attempt.account->disabled = false;
  EXPECT_EQ(decide(attempt).decision.reason, Reason::kLocked);

  attempt.account->lockout = {};
  EXPECT_EQ(decide(attempt).decision.reason, Reason::kWrongPassword);
}

// The same proof as above with the production parameters (OWASP: m = 19 MiB, t = 2, p = 1), so
// that the count is what a server spends.
TEST(Login, EveryFailingPathCostsOneArgon2idAtTheProductionParameters) {
  const login::Policy production;
  ASSERT_EQ(production.argon2.memory_kib, password::kOwasp.memory_kib);
  ASSERT_EQ(production.argon2.iterations, password::kOwasp.iterations);
  ASSERT_EQ(production.argon2.parallelism, password::kOwasp.parallelism);
  const std::string stored = password::hash("secret");

  login::Account no_password;
  login::Account disabled = account_with(stored);
  disabled.disabled = true;
  login::Account locked_account = account_with(stored);
  locked_account.lockout = locked();
  auto throttled = attempt_on(account_with(stored), "secret");
  throttled.recent_failures_from_address = production.address_failure_limit;

  const struct {
    const char* what;
    login::Attempt attempt;
    Reason reason;
  } cases[] = {
      {"unknown email", attempt_on(std::nullopt, "secret"), Reason::kUnknownEmail},
      {"unknown email, over-long", attempt_on(std::nullopt, kOverlong), Reason::kUnknownEmail},
      {"no password", attempt_on(no_password, "secret"), Reason::kNoPassword},
      {"disabled", attempt_on(disabled, "secret"), Reason::kDisabled},
      {"locked", attempt_on(locked_account, "secret"), Reason::kLocked},
      {"address throttled", throttled, Reason::kAddressThrottled},
      {"wrong password", attempt_on(account_with(stored), "Secret"), Reason::kWrongPassword},
      {"over-long password", attempt_on(account_with(stored), kOverlong), Reason::kWrongPassword},
      {"bcrypt, wrong password", attempt_on(account_with(kBcryptOfSecret), "Secret"),
       Reason::kWrongPassword},
  };
  for (const auto& c : cases) {
    const auto outcome = decide(c.attempt, production);
    EXPECT_EQ(outcome.decision.reason, c.reason) << c.what;
    EXPECT_EQ(outcome.argon2id_computations, 1u) << c.what;
  }

  const auto success = decide(attempt_on(account_with(stored), "secret"), production);
  EXPECT_EQ(success.decision.reason, Reason::kOk);
  EXPECT_EQ(success.argon2id_computations, 1u);
}
