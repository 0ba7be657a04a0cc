// What the worker makes of a connection attempt, as plain functions of strings and instants so
// that the rules can be tested without a server: which failures are configuration errors
// rather than outages, which servers it refuses, and how loudly it repeats itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "worker/config.hpp"
#include "worker/dsn.hpp"
#include "worker/log.hpp"
#include "worker/schedule.hpp"

namespace expense_ops::worker {

// True when libpq refused to connect because of an option value (sslmode=bogus, port=abc, three
// ports for two hosts), whether it came from the DSN or a PG* environment variable. Retrying
// cannot fix those; an outage, an authentication failure or a missing database might go away.
// libpq's messages are matched in English, which they are: the worker never sets a locale.
bool is_connection_option_error(std::string_view libpq_error);

// What the server said about itself right after connecting.
struct ServerState {
  bool in_recovery = false;            // pg_is_in_recovery(): a hot standby
  bool transaction_read_only = false;  // default_transaction_read_only on a primary, too
};

// Why the worker will not use a server, as its log line says it.
struct Refusal {
  const char* event;  // standby_refused or read_only_refused
  std::string hint;
};

// Every job writes, so a server that cannot take writes is refused at connect time rather than
// failing every job on it. nullopt: the server will do.
std::optional<Refusal> refusal_for(const ServerState& server, const DsnSummary& dsn);

// A warning about a condition that persists across retries, such as a DSN that leads to a
// standby: the first occurrence is news, at warn; repeats go to debug, with a reminder at warn
// every `reminder_interval`, so that the condition stays visible without flooding the log.
class RepeatedWarning {
 public:
  explicit RepeatedWarning(Seconds reminder_interval)
      : reminder_interval_(std::chrono::duration_cast<SteadyClock::duration>(reminder_interval)) {}

  // Records one occurrence at `now`; returns the level to log it at.
  log::Level occurred(SteadyTime now) {
    ++occurrences_;
    if (occurrences_ == 1 || now - last_warned_ >= reminder_interval_) {
      last_warned_ = now;
      return log::Level::kWarn;
    }
    return log::Level::kDebug;
  }

  // Occurrences since the condition began.
  long occurrences() const { return occurrences_; }

  // The condition is over: its next occurrence is news again.
  void clear() { occurrences_ = 0; }

 private:
  SteadyClock::duration reminder_interval_;
  SteadyTime last_warned_{};
  long occurrences_ = 0;
};

}  // namespace expense_ops::worker
