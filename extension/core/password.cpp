#include "core/password.hpp"

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>

#include <charconv>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/error.hpp"
#include "core/jwt.hpp"

namespace expense_ops::core::password {

namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

void check_length(std::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    throw std::invalid_argument("password longer than 1024 bytes");
  }
}

// Reads "name=<digits>" at `text`, advancing it; nullopt when it is not there.
std::optional<std::uint32_t> read_parameter(std::string_view& text, std::string_view name) {
  if (text.substr(0, name.size()) != name || text.size() <= name.size() || text[name.size()] != '=') {
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
  const std::string salt = jwt::random_bytes(kSaltBytes);
  std::vector<char> encoded(argon2_encodedlen(parameters.iterations, parameters.memory_kib,
                                              parameters.parallelism, kSaltBytes, kHashBytes,
                                              Argon2_id));
  const int status = argon2id_hash_encoded(
      parameters.iterations, parameters.memory_kib, parameters.parallelism, password.data(),
      password.size(), salt.data(), salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (status != ARGON2_OK) {
    throw std::runtime_error(std::string("argon2id hashing failed: ") + argon2_error_message(status));
  }
  return encoded.data();
}

Verdict verify(std::string_view password, std::string_view stored, const Argon2Parameters& current) {
  if (password.size() > kMaxPasswordBytes) {
    return Verdict::kMismatch;
  }
  if (is_bcrypt(stored)) {
    return bcrypt_matches(password, stored) ? Verdict::kMatchButRehash : Verdict::kMismatch;
  }
  const auto parameters = argon2id_parameters(stored);
  if (!parameters) {
    return Verdict::kMismatch;
  }
  const std::string encoded(stored);
  const int status = argon2id_verify(encoded.c_str(), password.data(), password.size());
  if (status != ARGON2_OK) {
    return Verdict::kMismatch;
  }
  return weaker(*parameters, current) ? Verdict::kMatchButRehash : Verdict::kMatch;
}

void spend_a_verification(std::string_view password, const Argon2Parameters& current) {
  // A real argon2id computation with the current parameters, compared to nothing.
  (void)hash(password.substr(0, std::min(password.size(), kMaxPasswordBytes)), current);
}

}  // namespace expense_ops::core::password
