#include "core/random.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace expense_ops::core {

std::string random_bytes(std::size_t count) {
  std::string bytes(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) != 1) {
    throw std::runtime_error("OpenSSL could not provide random bytes");
  }
  return bytes;
}

}  // namespace expense_ops::core
