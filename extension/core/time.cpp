#include "core/time.hpp"

#include <ctime>

namespace expense_ops::core {

namespace {

void append_digits(std::string& out, long long value, int width) {
  char digits[20];
  int length = 0;
  do {
    digits[length++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && length < 20);
  for (int pad = length; pad < width; ++pad) {
    out.push_back('0');
  }
  while (length > 0) {
    out.push_back(digits[--length]);
  }
}

}  // namespace

std::string format_iso8601(Instant instant) {
  using std::chrono::microseconds;
  using std::chrono::seconds;
  // Floor towards the past so that instants before 1970 keep a positive fraction.
  const auto whole = std::chrono::floor<seconds>(instant);
  const auto fraction = std::chrono::duration_cast<microseconds>(instant - whole).count();
  const std::time_t t = static_cast<std::time_t>(whole.time_since_epoch().count());
  std::tm utc{};
  gmtime_r(&t, &utc);
  // Written by hand rather than with snprintf: api.health() formats two of these per call.
  std::string out;
  out.reserve(27);
  append_digits(out, utc.tm_year + 1900LL, 4);
  out.push_back('-');
  append_digits(out, utc.tm_mon + 1, 2);
  out.push_back('-');
  append_digits(out, utc.tm_mday, 2);
  out.push_back('T');
  append_digits(out, utc.tm_hour, 2);
  out.push_back(':');
  append_digits(out, utc.tm_min, 2);
  out.push_back(':');
  append_digits(out, utc.tm_sec, 2);
  out.push_back('.');
  append_digits(out, fraction, 6);
  out.push_back('Z');
  return out;
}

double seconds_between(Instant earlier, Instant later) {
  return std::chrono::duration<double>(later - earlier).count();
}

}  // namespace expense_ops::core
