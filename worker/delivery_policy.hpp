// What one delivery attempt of a notification came to (issue 11, section 5), in plain C++ that
// takes the time as an argument, so the rules are tested without a network:
//   - HTTP: 2xx delivered; 429 and 5xx retried (429 not before its Retry-After); any other
//     answer (a 4xx, a redirect, which is never followed) fails for good;
//   - the transfer: timeouts and connection errors retried; a URL curl cannot use fails for good;
//   - SMTP, whose codes run the other way: 4xx transient; 5xx permanent only when about the
//     message or its recipients (501, 550 to 554), not the worker's login or TLS (530, 535);
//   - a command: exit 0 delivered; an exit status of sysexits.h (64 to 78) fails for good;
//     any other status, a signal and a timeout are retried.
// The backoff itself, exponential with jitter, is the database's (ops.notification_failed).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "worker/check_schedule.hpp"
#include "worker/text.hpp"

namespace expense_ops::worker {

struct DeliveryOutcome {
  enum class Kind { kDelivered, kRetry, kGiveUp };
  Kind kind = Kind::kDelivered;
  std::string error;                   // why it failed: short, one line, nothing secret
  std::optional<Seconds> retry_after;  // the receiver's Retry-After, at most a day

  static DeliveryOutcome delivered() { return {}; }
  static DeliveryOutcome retry(std::string error, std::optional<Seconds> after = std::nullopt) {
    return {Kind::kRetry, std::move(error), after};
  }
  static DeliveryOutcome give_up(std::string error) {
    return {Kind::kGiveUp, std::move(error), std::nullopt};
  }
};

// The longest Retry-After honoured: a receiver asking for more is asked again after a day.
inline constexpr Seconds kMaxRetryAfter{86400};

// A Retry-After value (RFC 9110 section 10.2.3): delay-seconds, or an HTTP-date read with
// libcurl's date parser, as a wait from `now` (0 for a date in the past), at most a day.
// nullopt when it is neither.
std::optional<Seconds> parse_retry_after(std::string_view value, WallTime now);

// An HTTP answer. `body` is the start of what the receiver said, kept in the error of a refusal.
DeliveryOutcome outcome_of_http(long status, std::string_view retry_after, std::string_view body,
                                WallTime now);

// A transfer that failed before any answer: libcurl's code and its message.
DeliveryOutcome outcome_of_transfer_error(int curl_code, std::string_view message);

// An SMTP transaction: libcurl's code and the server's last reply code (0 when none came).
DeliveryOutcome outcome_of_smtp(int curl_code, long reply_code, std::string_view message);

// A command: its wait status (waitpid), or that it ran out of time and was killed.
DeliveryOutcome outcome_of_command(int wait_status, bool timed_out, std::string_view output);

// Where an alertmanager channel POSTs: the target's /api/v2/alerts, unless it names it already.
std::string alertmanager_alerts_url(std::string_view target);

}  // namespace expense_ops::worker
