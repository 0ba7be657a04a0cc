// The worker's configuration from flags alone, for the tests of one option or another: a DSN
// that parses, an empty environment, and the host name "host".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "worker/config.hpp"

namespace expense_ops::worker::flags_for_tests {

inline WorkerConfig parse_flags(std::vector<std::string> flags) {
  flags.insert(flags.begin(), {"expense-ops-worker", "--dsn", "host=/tmp dbname=x"});
  return parse_command_line(
             flags, [](const std::string&) { return std::optional<std::string>(); }, "host")
      .config;
}

// The ConfigError's message, or "<no error>".
inline std::string config_error(std::vector<std::string> flags) {
  try {
    parse_flags(std::move(flags));
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "<no error>";
}

}  // namespace expense_ops::worker::flags_for_tests
