#include "core/time.hpp"

#include <cstdio>
#include <ctime>

namespace expense_ops::core {

std::string format_iso8601(Instant instant) {
  using std::chrono::microseconds;
  using std::chrono::seconds;
  // Floor towards the past so that instants before 1970 keep a positive fraction.
  const auto whole = std::chrono::floor<seconds>(instant);
  const auto fraction = std::chrono::duration_cast<microseconds>(instant - whole).count();
  const std::time_t t = static_cast<std::time_t>(whole.time_since_epoch().count());
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buffer[96];  // room for any int fields, which the compiler cannot rule out
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<long long>(fraction));
  return buffer;
}

double seconds_between(Instant earlier, Instant later) {
  return std::chrono::duration<double>(later - earlier).count();
}

}  // namespace expense_ops::core
