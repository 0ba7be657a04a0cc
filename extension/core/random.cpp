#include "core/random.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <string>

#include "core/error.hpp"

namespace expense_ops::core {

std::string random_bytes(std::size_t count) {
  std::string bytes(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) != 1) {
    throw std::runtime_error("OpenSSL could not provide random bytes");
  }
  return bytes;
}

std::string requested_random_bytes(std::int64_t count) {
  if (count < 1 || count > kMaxRequestedRandomBytes) {
    throw RuleViolation(
        sqlstate::kInvalidParameterValue,
        "count must be between 1 and " + std::to_string(kMaxRequestedRandomBytes) + ", got " +
            std::to_string(count),
        "Ask for at most " + std::to_string(kMaxRequestedRandomBytes) + " bytes at a time.");
  }
  return random_bytes(static_cast<std::size_t>(count));
}

}  // namespace expense_ops::core
