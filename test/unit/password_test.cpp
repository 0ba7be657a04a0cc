#include "core/password.hpp"

#include "core/error.hpp"

#include <gtest/gtest.h>

namespace password = expense_ops::core::password;
using password::Verdict;

namespace {
// Cheap parameters keep the suite fast; one test uses the real ones.
constexpr password::Argon2Parameters kCheap{64, 1, 1};
}  // namespace

TEST(Password, HashesAsArgon2idPhcStrings) {
  const std::string stored = password::hash("correct horse", kCheap);
  EXPECT_EQ(stored.rfind("$argon2id$v=19$m=64,t=1,p=1$", 0), 0u) << stored;
  EXPECT_NE(password::hash("correct horse", kCheap), stored);  // a fresh salt each time
  EXPECT_EQ(password::verify("correct horse", stored, kCheap), Verdict::kMatch);
  EXPECT_EQ(password::verify("correct horsE", stored, kCheap), Verdict::kMismatch);
  EXPECT_EQ(password::verify("", stored, kCheap), Verdict::kMismatch);
}

TEST(Password, TheDefaultsAreOwasps) {
  const std::string stored = password::hash("secret");
  EXPECT_EQ(stored.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << stored;
  EXPECT_EQ(password::verify("secret", stored), Verdict::kMatch);
}

TEST(Password, WeakerStoredParametersAskForARehash) {
  const std::string stored = password::hash("secret", kCheap);
  const password::Argon2Parameters stronger{128, 1, 1};
  EXPECT_EQ(password::verify("secret", stored, stronger), Verdict::kMatchButRehash);
  EXPECT_EQ(password::verify("wrong", stored, stronger), Verdict::kMismatch);
}

TEST(Password, VerifiesBcryptFromOtherSystemsAndAsksForARehash) {
  // crypt(3) bcrypt hashes of "secret" with cost 4, as Supabase-style exports carry them.
  const std::string b2b = "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW";
  EXPECT_EQ(password::verify("secret", b2b, kCheap), Verdict::kMatchButRehash);
  EXPECT_EQ(password::verify("Secret", b2b, kCheap), Verdict::kMismatch);
  std::string b2a = b2b;
  b2a[2] = 'a';
  EXPECT_EQ(password::verify("secret", b2a, kCheap), Verdict::kMatchButRehash);
  std::string b2y = b2b;
  b2y[2] = 'y';
  EXPECT_EQ(password::verify("secret", b2y, kCheap), Verdict::kMatchButRehash);
}

TEST(Password, UnknownFormatsNeverMatch) {
  for (const char* stored : {"", "secret", "$1$abc$def", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA",
                             "$argon2id$v=19$m=64,t=1$x$y", "$2x$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"}) {
    EXPECT_EQ(password::verify("secret", stored, kCheap), Verdict::kMismatch) << stored;
  }
}

TEST(Password, ParsesPhcParameters) {
  const auto parameters = password::argon2id_parameters("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
  ASSERT_TRUE(parameters);
  EXPECT_EQ(parameters->memory_kib, 19456u);
  EXPECT_EQ(parameters->iterations, 2u);
  EXPECT_EQ(parameters->parallelism, 1u);
  EXPECT_FALSE(password::argon2id_parameters("$argon2id$v=19$m=,t=2,p=1$s$h"));
  EXPECT_FALSE(password::argon2id_parameters("$argon2id$v=18$m=1,t=2,p=1$s$h"));
}

TEST(Password, OverlongPasswordsAreRefused) {
  const std::string huge(password::kMaxPasswordBytes + 1, 'x');
  EXPECT_THROW(password::hash(huge, kCheap), std::invalid_argument);
  EXPECT_EQ(password::verify(huge, password::hash("x", kCheap), kCheap), Verdict::kMismatch);
}

TEST(Password, NewPasswordsNeedEightToTenTwentyFourBytes) {
  EXPECT_NO_THROW(password::check_new_password("12345678"));
  EXPECT_THROW(password::check_new_password("1234567"), expense_ops::core::RuleViolation);
  EXPECT_THROW(password::check_new_password(std::string(1025, 'x')), expense_ops::core::RuleViolation);
  EXPECT_NO_THROW(password::check_new_password(std::string(1024, 'x')));
}
