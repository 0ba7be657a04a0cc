#include "worker/delivery_policy.hpp"

#include <curl/curl.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace expense_ops::worker {

namespace {

// sysexits.h: EX_USAGE (64) to EX_CONFIG (78). A command that says its input or its own setup
// is wrong will say so again.
constexpr int kFirstSysexit = 64;
constexpr int kLastSysexit = 78;

std::string with_excerpt(std::string reason, std::string_view said) {
  const std::string excerpt = one_line_excerpt(said);
  if (!excerpt.empty()) {
    reason += ": ";
    reason += excerpt;
  }
  return reason;
}

}  // namespace

std::optional<Seconds> parse_retry_after(std::string_view value, WallTime now) {
  value = trimmed(value);
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    unsigned long long seconds = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    constexpr unsigned long long kMaxSeconds = 86400;
    static_assert(kMaxSeconds == static_cast<unsigned long long>(kMaxRetryAfter.count()));
    if (error == std::errc::result_out_of_range || seconds > kMaxSeconds) {
      return kMaxRetryAfter;
    }
    return Seconds(static_cast<double>(seconds));
  }
  const std::string date(value);
  const time_t at = curl_getdate(date.c_str(), nullptr);
  if (at == -1) {
    return std::nullopt;
  }
  const Seconds wait = std::chrono::duration_cast<Seconds>(WallClock::from_time_t(at) - now);
  return std::clamp(wait, Seconds(0), kMaxRetryAfter);
}

DeliveryOutcome outcome_of_http(long status, std::string_view retry_after, std::string_view body,
                                WallTime now) {
  if (status >= 200 && status <= 299) {
    return DeliveryOutcome::delivered();
  }
  std::string reason = "HTTP " + std::to_string(status);
  if (status == 429) {
    const std::optional<Seconds> after = parse_retry_after(retry_after, now);
    if (after) {
      reason += " (Retry-After " + std::to_string(static_cast<long>(after->count())) + " s)";
    }
    return DeliveryOutcome::retry(with_excerpt(reason, body), after);
  }
  if (status >= 500 && status <= 599) {
    return DeliveryOutcome::retry(with_excerpt(reason, body));
  }
  if (status >= 300 && status <= 399) {
    return DeliveryOutcome::give_up(reason +
                                    ": a redirect, which is not followed; give the final URL");
  }
  return DeliveryOutcome::give_up(with_excerpt(reason, body));
}

DeliveryOutcome outcome_of_transfer_error(int curl_code, std::string_view message) {
  const auto code = static_cast<CURLcode>(curl_code);
  std::string reason = one_line_excerpt(message.empty() ? curl_easy_strerror(code) : message);
  switch (code) {
    // What no retry changes: the URL or the build.
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
      return DeliveryOutcome::give_up(reason);
    default:
      // Timeouts, refused and reset connections, DNS, TLS (a certificate gets renewed): the
      // receiver may be back by the next attempt.
      return DeliveryOutcome::retry(reason);
  }
}

DeliveryOutcome outcome_of_smtp(int curl_code, long reply_code, std::string_view message) {
  if (curl_code == CURLE_OK) {
    return DeliveryOutcome::delivered();
  }
  // Only what says the message or its recipients are wrong is for good (RFC 5321: 501 syntax,
  // 550 to 554 mailbox and transaction). A refused login, a server that wants TLS (530): the
  // operator fixes those, and the notifications must still be there.
  const bool about_the_message = reply_code == 501 || (reply_code >= 550 && reply_code <= 554);
  if (about_the_message && curl_code != CURLE_LOGIN_DENIED) {
    return DeliveryOutcome::give_up(with_excerpt("SMTP " + std::to_string(reply_code), message));
  }
  if (reply_code >= 500 && reply_code <= 599) {
    return DeliveryOutcome::retry(with_excerpt("SMTP " + std::to_string(reply_code), message));
  }
  if (reply_code >= 400 && reply_code <= 499) {
    return DeliveryOutcome::retry(with_excerpt("SMTP " + std::to_string(reply_code), message));
  }
  return outcome_of_transfer_error(curl_code, message);
}

DeliveryOutcome outcome_of_command(int wait_status, bool timed_out, std::string_view output) {
  if (timed_out) {
    return DeliveryOutcome::retry("the command ran out of time and was killed");
  }
  if (WIFEXITED(wait_status)) {
    const int status = WEXITSTATUS(wait_status);
    if (status == 0) {
      return DeliveryOutcome::delivered();
    }
    std::string reason = with_excerpt("the command exited with " + std::to_string(status), output);
    if (status >= kFirstSysexit && status <= kLastSysexit) {
      return DeliveryOutcome::give_up(std::move(reason));
    }
    return DeliveryOutcome::retry(std::move(reason));
  }
  if (WIFSIGNALED(wait_status)) {
    return DeliveryOutcome::retry("the command was killed by signal " +
                                  std::to_string(WTERMSIG(wait_status)));
  }
  return DeliveryOutcome::retry("the command ended without an exit status");
}

std::string alertmanager_alerts_url(std::string_view target) {
  constexpr std::string_view kPath = "/api/v2/alerts";
  std::string url(target);
  if (url.size() >= kPath.size() &&
      url.compare(url.size() - kPath.size(), kPath.size(), kPath) == 0) {
    return url;
  }
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  return url + std::string(kPath);
}

}  // namespace expense_ops::worker
