// Cryptographically random bytes, for password salts and key material.
#pragma once

#include <cstddef>
#include <string>

namespace expense_ops::core {

// `count` bytes from OpenSSL's generator (RAND_bytes); std::runtime_error when it cannot
// provide them, which must never be papered over with a weaker source.
std::string random_bytes(std::size_t count);

}  // namespace expense_ops::core
