#include "core/password.hpp"

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"

namespace expense_ops::core::password {

namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

// Relaxed: a statistic, ordering nothing else.
std::atomic<std::uint64_t> completed_argon2id_computations{0};

void count_argon2id_computation() noexcept {
  completed_argon2id_computations.fetch_add(1, std::memory_order_relaxed);
}

void check_length(std::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    throw std::invalid_argument("password longer than 1024 bytes");
  }
}

// Reads "name=<digits>" at `text`, advancing it; nullopt when it is not there.
std::optional<std::uint32_t> read_parameter(std::string_view& text, std::string_view name) {
  if (text.substr(0, name.size()) != name || text.size() <= name.size() ||
      text[name.size()] != '=') {
    return std::nullopt;
  }
  text.remove_prefix(name.size() + 1);
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end == text.data()) {
    return std::nullopt;
  }
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

bool weaker(const Argon2Parameters& stored, const Argon2Parameters& current) {
  return stored.memory_kib < current.memory_kib || stored.iterations < current.iterations ||
         stored.parallelism < current.parallelism;
}

bool bcrypt_matches(std::string_view password, std::string_view stored) {
  // crypt_data is 32 KiB: too big for the stack of a PostgreSQL backend's deeper frames.
  auto data = std::make_unique<crypt_data>();
  const std::string phrase(password);
  const std::string setting(stored);
  const char* result = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  if (result == nullptr || result[0] == '*') {
    return false;  // crypt's failure tokens start with '*'
  }
  const std::string_view computed(result);
  return computed.size() == stored.size() &&
         CRYPTO_memcmp(computed.data(), stored.data(), stored.size()) == 0;
}

enum class Argon2idCheck { kMatch, kMismatch, kNotComputed };

Argon2idCheck check_argon2id(std::string_view password, std::string_view stored) {
  const std::string encoded(stored);
  const int status = argon2id_verify(encoded.c_str(), password.data(), password.size());
  // libargon2 reports a mismatch only after computing the hash; any other error (a string that
  // does not decode, parameters it refuses, memory it could not get) means it computed nothing.
  if (status == ARGON2_OK) {
    count_argon2id_computation();
    return Argon2idCheck::kMatch;
  }
  if (status == ARGON2_VERIFY_MISMATCH) {
    count_argon2id_computation();
    return Argon2idCheck::kMismatch;
  }
  return Argon2idCheck::kNotComputed;
}

}  // namespace

void check_new_password(std::string_view password) {
  if (password.size() < kMinPasswordBytes) {
    throw RuleViolation(sqlstate::kPasswordTooShort, "password must have at least 8 characters",
                        "Choose a longer password; a passphrase of several words works well.");
  }
  if (password.size() > kMaxPasswordBytes) {
    throw RuleViolation(sqlstate::kPasswordTooLong, "password must have at most 1024 bytes",
                        "Choose a shorter password.");
  }
}

bool is_bcrypt(std::string_view stored) {
  return stored.size() == 60 && stored[0] == '$' && stored[1] == '2' &&
         (stored[2] == 'a' || stored[2] == 'b' || stored[2] == 'y') && stored[3] == '$';
}

std::optional<Argon2Parameters> argon2id_parameters(std::string_view phc) {
  constexpr std::string_view kPrefix = "$argon2id$v=19$";
  if (phc.substr(0, kPrefix.size()) != kPrefix) {
    return std::nullopt;
  }
  phc.remove_prefix(kPrefix.size());
  Argon2Parameters parameters{};
  const auto memory = read_parameter(phc, "m");
  if (!memory || phc.empty() || phc[0] != ',') {
    return std::nullopt;
  }
  phc.remove_prefix(1);
  const auto iterations = read_parameter(phc, "t");
  if (!iterations || phc.empty() || phc[0] != ',') {
    return std::nullopt;
  }
  phc.remove_prefix(1);
  const auto parallelism = read_parameter(phc, "p");
  if (!parallelism || phc.empty() || phc[0] != '$') {
    return std::nullopt;
  }
  parameters = {*memory, *iterations, *parallelism};
  return parameters;
}

std::string hash(std::string_view password, const Argon2Parameters& parameters) {
  check_length(password);
  const std::string salt = random_bytes(kSaltBytes);
  std::vector<char> encoded(argon2_encodedlen(parameters.iterations, parameters.memory_kib,
                                              parameters.parallelism, kSaltBytes, kHashBytes,
                                              Argon2_id));
  const int status = argon2id_hash_encoded(
      parameters.iterations, parameters.memory_kib, parameters.parallelism, password.data(),
      password.size(), salt.data(), salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (status != ARGON2_OK) {
    throw std::runtime_error(std::string("argon2id hashing failed: ") +
                             argon2_error_message(status));
  }
  count_argon2id_computation();
  return encoded.data();
}

Verdict verify(std::string_view password, std::string_view stored,
               const Argon2Parameters& current) {
  if (password.size() > kMaxPasswordBytes) {
    // hash() never stored a password this long, so it matches nothing; but refusing it without
    // work would answer in microseconds where a wrong password takes an argon2id.
    spend_a_verification(password, current);
    return Verdict::kMismatch;
  }
  if (is_bcrypt(stored)) {
    const bool matches = bcrypt_matches(password, stored);
    // Without this argon2id, an imported account's failure would cost only a bcrypt at its
    // stored cost (a few milliseconds, a fraction of an argon2id), which tells an observer that
    // the email exists. With it, the failure costs what every other failure costs plus the
    // bcrypt. That remainder still sets apart an imported account nobody has logged into since
    // the import; it is accepted because it removes itself: the first successful login rehashes
    // the account to argon2id (kMatchButRehash), and from then on it costs exactly what every
    // other account costs. Spending on a match too keeps both bcrypt outcomes alike.
    spend_a_verification(password, current);
    return matches ? Verdict::kMatchButRehash : Verdict::kMismatch;
  }
  const auto parameters = argon2id_parameters(stored);
  const Argon2idCheck check =
      parameters ? check_argon2id(password, stored) : Argon2idCheck::kNotComputed;
  switch (check) {
    case Argon2idCheck::kMatch:
      return weaker(*parameters, current) ? Verdict::kMatchButRehash : Verdict::kMatch;
    case Argon2idCheck::kMismatch:
      return Verdict::kMismatch;
    case Argon2idCheck::kNotComputed:
      break;
  }
  // A stored value that is no usable hash: it matches nothing, at the usual price.
  spend_a_verification(password, current);
  return Verdict::kMismatch;
}

void spend_a_verification(std::string_view password, const Argon2Parameters& current) {
  // A real argon2id computation with the current parameters, compared to nothing.
  (void)hash(password.substr(0, std::min(password.size(), kMaxPasswordBytes)), current);
}

std::uint64_t argon2id_computations() noexcept {
  return completed_argon2id_computations.load(std::memory_order_relaxed);
}

}  // namespace expense_ops::core::password
