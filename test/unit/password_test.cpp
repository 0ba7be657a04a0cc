#include "core/password.hpp"

#include "core/error.hpp"

#include <gtest/gtest.h>

namespace password = expense_ops::core::password;
using password::Verdict;

namespace {
// Cheap parameters keep the suite fast; one test uses the real ones.
constexpr password::Argon2Parameters kCheap{64, 1, 1};

// crypt(3) bcrypt hash of "secret" with cost 4, as Supabase-style exports carry them.
constexpr char kBcryptOfSecret[] = "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW";

// How many argon2id computations `work` completed.
template <typename Work>
std::uint64_t argon2id_cost(Work&& work) {
  const std::uint64_t before = password::argon2id_computations();
  work();
  return password::argon2id_computations() - before;
}
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
  const std::string b2b = kBcryptOfSecret;
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
                             "$argon2id$v=19$m=64,t=1$x$y",
                             "$2x$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"}) {
    EXPECT_EQ(password::verify("secret", stored, kCheap), Verdict::kMismatch) << stored;
  }
}

TEST(Password, ParsesPhcParameters) {
  const auto parameters =
      password::argon2id_parameters("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
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

TEST(Password, HashingAndSpendingEachCountOneArgon2id) {
  EXPECT_EQ(argon2id_cost([] { password::hash("secret", kCheap); }), 1u);
  EXPECT_EQ(argon2id_cost([] { password::spend_a_verification("secret", kCheap); }), 1u);
  const std::string huge(password::kMaxPasswordBytes + 1, 'x');
  EXPECT_EQ(argon2id_cost([&] { password::spend_a_verification(huge, kCheap); }), 1u);
  // A refused hash computed nothing and counts nothing.
  EXPECT_EQ(argon2id_cost([&] { EXPECT_ANY_THROW(password::hash(huge, kCheap)); }), 0u);
}

TEST(Password, EveryVerificationCostsExactlyOneArgon2id) {
  const std::string stored = password::hash("secret", kCheap);
  const std::string huge(password::kMaxPasswordBytes + 1, 'x');
  const struct {
    const char* what;
    std::string password;
    std::string stored;
    Verdict verdict;
  } cases[] = {
      {"argon2id, right password", "secret", stored, Verdict::kMatch},
      {"argon2id, wrong password", "Secret", stored, Verdict::kMismatch},
      {"argon2id, over-long password", huge, stored, Verdict::kMismatch},
      {"bcrypt, right password", "secret", kBcryptOfSecret, Verdict::kMatchButRehash},
      {"bcrypt, wrong password", "Secret", kBcryptOfSecret, Verdict::kMismatch},
      {"bcrypt, over-long password", huge, kBcryptOfSecret, Verdict::kMismatch},
      {"not a hash", "secret", "secret", Verdict::kMismatch},
      {"empty stored value", "secret", "", Verdict::kMismatch},
      // Parameters parse, but libargon2 cannot decode the rest: it computes nothing itself.
      {"argon2id that does not decode", "secret", "$argon2id$v=19$m=64,t=1,p=1$!!!$!!!",
       Verdict::kMismatch},
      {"argon2id with parameters libargon2 refuses", "secret",
       "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", Verdict::kMismatch},
  };
  for (const auto& c : cases) {
    Verdict verdict = Verdict::kMatch;
    EXPECT_EQ(argon2id_cost([&] { verdict = password::verify(c.password, c.stored, kCheap); }), 1u)
        << c.what;
    EXPECT_EQ(verdict, c.verdict) << c.what;
  }
}

TEST(Password, AnOverlongPasswordCostsOneArgon2idAtTheRealParameters) {
  const std::string stored = password::hash("secret");
  const std::string huge(password::kMaxPasswordBytes + 1, 'x');
  EXPECT_EQ(argon2id_cost([&] { EXPECT_EQ(password::verify(huge, stored), Verdict::kMismatch); }),
            1u);
}

TEST(Password, NewPasswordsNeedEightToTenTwentyFourBytes) {
  EXPECT_NO_THROW(password::check_new_password("12345678"));
  EXPECT_THROW(password::check_new_password("1234567"), expense_ops::core::RuleViolation);
  EXPECT_THROW(password::check_new_password(std::string(1025, 'x')),
               expense_ops::core::RuleViolation);
  EXPECT_NO_THROW(password::check_new_password(std::string(1024, 'x')));
}
