// Instants in the core are microseconds since the Unix epoch, in UTC: the resolution of
// PostgreSQL's timestamptz, with no time zone attached.
#pragma once

#include <chrono>
#include <string>

namespace expense_ops::core {

using Instant = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

// ISO 8601 in UTC with microseconds, e.g. 2026-11-26T16:25:43.123456Z.
std::string format_iso8601(Instant instant);

// Seconds from `earlier` to `later` as a double (negative when `later` comes first).
double seconds_between(Instant earlier, Instant later);

}  // namespace expense_ops::core
