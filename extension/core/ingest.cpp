#include "core/ingest.hpp"

#include <date/date.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace expense_ops::core::ingest {

namespace {

constexpr std::array<std::string_view, 7> kMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                      "PATCH", "DELETE", "OPTIONS"};

bool is_uuid(std::string_view text) {
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') {
        return false;
      }
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool is_method(std::string_view text) {
  return std::find(kMethods.begin(), kMethods.end(), text) != kMethods.end();
}

bool is_route(std::string_view text) {
  return !text.empty() && text.front() == '/' && text.size() <= kMaxRouteLength &&
         std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool is_status(std::int64_t status) {
  return status >= 100 && status <= 599;
}

bool is_duration(double duration_ms) {
  return std::isfinite(duration_ms) && duration_ms >= 0;
}

bool is_sqlstate(std::string_view text) {
  return text.size() == 5 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
         });
}

// A shortened, printable copy of a bad value for the reason.
std::string shown(std::string_view value) {
  std::string out;
  for (const char c : value.substr(0, 40)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (value.size() > 40) {
    out += "...";
  }
  return out;
}

std::string missing(std::string_view field) {
  return std::string(field) + ": missing";
}

std::optional<std::string> instant_problem(std::string_view field,
                                           const std::optional<std::string_view>& text,
                                           AcceptedWindow window) {
  if (!text) {
    return missing(field);
  }
  const std::optional<Instant> at = parse_iso8601(*text);
  if (!at) {
    return std::string(field) + ": \"" + shown(*text) +
           "\" is not an ISO 8601 instant with an offset or Z";
  }
  if (*at < window.earliest) {
    return std::string(field) + ": " + format_iso8601(*at) + " is older than the log keeps (" +
           format_iso8601(window.earliest) + ")";
  }
  if (*at > window.latest) {
    return std::string(field) + ": " + format_iso8601(*at) + " is in the future (after " +
           format_iso8601(window.latest) + ")";
  }
  return std::nullopt;
}

std::optional<std::string> status_problem(std::string_view text) {
  int status = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), status);
  if (error != std::errc() || end != text.data() + text.size() || text.empty() ||
      !is_status(status)) {
    return "status: \"" + shown(text) + "\" is not an HTTP status (100-599)";
  }
  return std::nullopt;
}

std::optional<std::string> duration_problem(std::string_view text) {
  double duration = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), duration);
  if (error != std::errc() || end != text.data() + text.size() || text.empty() ||
      !is_duration(duration)) {
    return "duration_ms: \"" + shown(text) +
           "\" is not a finite number of milliseconds at or above 0";
  }
  return std::nullopt;
}

}  // namespace

std::optional<Instant> parse_iso8601(std::string_view text) {
  // The fixed fields of YYYY-MM-DDTHH:MM:SS, then an optional fraction, then Z or an offset.
  // date::parse would do, but GCC 12 reports its instantiation as reading an uninitialised
  // value, which -Werror turns into a failed build.
  const auto number = [&](std::size_t at, std::size_t digits, int& value) {
    if (text.size() < at + digits) {
      return false;
    }
    const char* first = text.data() + at;
    const auto [end, error] = std::from_chars(first, first + digits, value);
    return error == std::errc() && end == first + digits &&
           std::all_of(first, first + digits, [](char c) { return c >= '0' && c <= '9'; });
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20 || !number(0, 4, year) || text[4] != '-' || !number(5, 2, month) ||
      text[7] != '-' || !number(8, 2, day) || (text[10] != 'T' && text[10] != ' ') ||
      !number(11, 2, hour) || text[13] != ':' || !number(14, 2, minute) || text[16] != ':' ||
      !number(17, 2, second) || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  const date::year_month_day ymd{date::year(year), date::month(static_cast<unsigned>(month)),
                                 date::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  std::size_t at = 19;
  std::chrono::microseconds fraction{0};
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t digits_start = at;
    std::int64_t scale = 100000;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (at - digits_start >= 6) {
        return std::nullopt;  // finer than PostgreSQL keeps
      }
      fraction += std::chrono::microseconds((text[at] - '0') * scale);
      scale /= 10;
      ++at;
    }
    if (at == digits_start) {
      return std::nullopt;
    }
  }
  std::chrono::seconds offset{0};
  const std::string_view zone = text.substr(at);
  if (zone == "Z" || zone == " UTC") {
    offset = std::chrono::seconds(0);
  } else {
    // +HHMM, +HH:MM, or +HH:MM:SS, as PostgreSQL writes the offset of a zone's local mean time
    // ("1800-01-01T00:19:32+00:19:32" in Europe/Amsterdam).
    int offset_hours = 0, offset_minutes = 0, offset_seconds = 0;
    const bool colon = (zone.size() == 6 || zone.size() == 9) && zone[3] == ':';
    const bool with_seconds = colon && zone.size() == 9;
    if ((zone.size() != 5 && !colon) || (zone[0] != '+' && zone[0] != '-') ||
        !number(at + 1, 2, offset_hours) || !number(at + (colon ? 4 : 3), 2, offset_minutes) ||
        (with_seconds && (zone[6] != ':' || !number(at + 7, 2, offset_seconds))) ||
        offset_hours > 15 || offset_minutes > 59 || offset_seconds > 59) {
      return std::nullopt;
    }
    offset = std::chrono::seconds(offset_hours * 3600 + offset_minutes * 60 + offset_seconds);
    if (zone[0] == '-') {
      offset = -offset;
    }
  }
  const auto local = date::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
                     std::chrono::seconds(second) + fraction;
  return Instant(
      std::chrono::duration_cast<std::chrono::microseconds>((local - offset).time_since_epoch()));
}

std::optional<std::string> request_problem(const RequestText& row, AcceptedWindow window) {
  if (auto problem = instant_problem("at", row.at, window)) {
    return problem;
  }

  if (!row.method) {
    return missing("method");
  }
  if (!is_method(*row.method)) {
    return "method: \"" + shown(*row.method) +
           "\" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
  }

  if (!row.route) {
    return missing("route");
  }
  if (row.route->empty() || row.route->front() != '/') {
    return "route: \"" + shown(*row.route) + "\" does not start with /";
  }
  if (row.route->size() > kMaxRouteLength) {
    return "route: longer than " + std::to_string(kMaxRouteLength) + " bytes";
  }
  if (!is_route(*row.route)) {
    return "route: contains a control character";
  }

  if (!row.status) {
    return missing("status");
  }
  if (auto problem = status_problem(*row.status)) {
    return problem;
  }

  if (!row.duration_ms) {
    return missing("duration_ms");
  }
  if (auto problem = duration_problem(*row.duration_ms)) {
    return problem;
  }

  if (row.sqlstate && !is_sqlstate(*row.sqlstate)) {
    return "sqlstate: \"" + shown(*row.sqlstate) + "\" is not five characters of 0-9 and A-Z";
  }
  if (row.org_id && !is_uuid(*row.org_id)) {
    return "org_id: \"" + shown(*row.org_id) + "\" is not a UUID";
  }
  if (row.user_id && !is_uuid(*row.user_id)) {
    return "user_id: \"" + shown(*row.user_id) + "\" is not a UUID";
  }
  return std::nullopt;
}

bool request_values_valid(const RequestValues& row) noexcept {
  return is_method(row.method) && is_route(row.route) && is_status(row.status) &&
         is_duration(row.duration_ms) && (!row.sqlstate || is_sqlstate(*row.sqlstate));
}

std::optional<std::string> check_result_problem(const CheckResultText& row, AcceptedWindow window) {
  if (!row.check_id || row.check_id->empty()) {
    return missing("check_id");
  }
  if (auto problem = instant_problem("started_at", row.started_at, window)) {
    return problem;
  }
  if (!row.outcome) {
    return missing("outcome");
  }
  if (*row.outcome != "up" && *row.outcome != "down" && *row.outcome != "unknown") {
    return "outcome: \"" + shown(*row.outcome) + "\" is not one of up, down, unknown";
  }
  if (*row.outcome == "unknown" && (!row.detail || row.detail->empty())) {
    return "detail: an unknown outcome needs its reason (such as worker_down)";
  }
  if (row.duration_ms) {
    if (auto problem = duration_problem(*row.duration_ms)) {
      return problem;
    }
  }
  if (row.status) {
    if (auto problem = status_problem(*row.status)) {
      return problem;
    }
  }
  return std::nullopt;
}

std::optional<std::string> log_entry_problem(const LogEntryText& entry, AcceptedWindow window) {
  if (auto problem = instant_problem("timestamp", entry.timestamp, window)) {
    return problem;
  }
  if (!entry.severity) {
    return missing("error_severity");
  }
  if (*entry.severity != "ERROR" && *entry.severity != "FATAL" && *entry.severity != "PANIC") {
    return "error_severity: \"" + shown(*entry.severity) + "\" is not ERROR, FATAL or PANIC";
  }
  if (entry.sqlstate && !is_sqlstate(*entry.sqlstate)) {
    return "state_code: \"" + shown(*entry.sqlstate) + "\" is not five characters of 0-9 and A-Z";
  }
  if (!entry.message || entry.message->empty()) {
    return missing("message");
  }
  return std::nullopt;
}

}  // namespace expense_ops::core::ingest
