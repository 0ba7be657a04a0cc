// Cryptographically random bytes, for password salts and key material.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace expense_ops::core {

// `count` bytes from OpenSSL's generator (RAND_bytes); std::runtime_error when it cannot
// provide them, which must never be papered over with a weaker source.
std::string random_bytes(std::size_t count);

// The most one request may ask for: key material, not a stream.
inline constexpr std::int64_t kMaxRequestedRandomBytes = 1024;

// random_bytes for a count a caller chose (iam.random_bytes): RuleViolation 22023 unless it is
// between 1 and kMaxRequestedRandomBytes.
std::string requested_random_bytes(std::int64_t count);

}  // namespace expense_ops::core
