#include "worker/log_lines.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace expense_ops::worker {

namespace {

std::string route_of(const std::string& target) {
  return target.substr(0, target.find('?'));
}

// "01/Dec/2026:10:00:00 +0000" (nginx's $time_local) as ISO 8601 with the same offset.
std::optional<std::string> iso_from_time_local(const std::string& text) {
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int day = 0;
  int year = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  char month[4] = {};
  char sign = 0;
  int offset_hours = 0;
  int offset_minutes = 0;
  if (std::sscanf(text.c_str(), "%2d/%3c/%4d:%2d:%2d:%2d %c%2d%2d", &day, month, &year, &hour,
                  &minute, &second, &sign, &offset_hours, &offset_minutes) != 9 ||
      (sign != '+' && sign != '-')) {
    return std::nullopt;
  }
  int month_number = 0;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (std::string(month, 3) == kMonths[i]) {
      month_number = static_cast<int>(i) + 1;
    }
  }
  if (month_number == 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  char iso[64];
  std::snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", year, month_number,
                day, hour, minute, second, sign, offset_hours, offset_minutes);
  return std::string(iso);
}

ParsedLine parse_nginx_json(const std::string& line) {
  const auto parsed = nlohmann::json::parse(line, nullptr, false);
  if (!parsed.is_object()) {
    return std::string("not a JSON object");
  }
  nlohmann::json entry = nlohmann::json::object();
  const auto copy_string = [&](const char* from, const char* to) {
    if (parsed.contains(from) && parsed[from].is_string()) {
      entry[to] = parsed[from];
    }
  };
  copy_string("time", "at");
  copy_string("method", "method");
  if (parsed.contains("uri") && parsed["uri"].is_string()) {
    entry["route"] = route_of(parsed["uri"].get<std::string>());
  }
  if (parsed.contains("status") && (parsed["status"].is_number() || parsed["status"].is_string())) {
    entry["status"] = parsed["status"].is_number() ? parsed["status"].dump()
                                                   : parsed["status"].get<std::string>();
  }
  // $request_time is in seconds with millisecond resolution.
  if (parsed.contains("request_time") && parsed["request_time"].is_number()) {
    entry["duration_ms"] = parsed["request_time"].get<double>() * 1000.0;
  }
  return entry;
}

ParsedLine parse_combined(const std::string& line) {
  // addr ident user [time] "request" status bytes "referer" "agent" [request_time]
  const auto open = line.find('[');
  const auto close = line.find(']', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) {
    return std::string("no [time]");
  }
  const auto at = iso_from_time_local(line.substr(open + 1, close - open - 1));
  if (!at) {
    return std::string("a [time] that is not nginx's $time_local");
  }
  const auto request_open = line.find('"', close);
  const auto request_close =
      request_open == std::string::npos ? request_open : line.find('"', request_open + 1);
  if (request_close == std::string::npos) {
    return std::string("no \"request\"");
  }
  const std::string request = line.substr(request_open + 1, request_close - request_open - 1);
  const auto space = request.find(' ');
  const auto second_space = space == std::string::npos ? space : request.find(' ', space + 1);
  if (space == std::string::npos) {
    return std::string("a request without a method and a target");
  }
  nlohmann::json entry = {{"at", *at},
                          {"method", request.substr(0, space)},
                          {"route", route_of(request.substr(space + 1, second_space - space - 1))}};
  // The status, the bytes, then two quoted fields, then the request time if the format has it.
  const char* cursor = line.c_str() + request_close + 1;
  int status = 0;
  int consumed = 0;
  if (std::sscanf(cursor, " %d%n", &status, &consumed) != 1) {
    return std::string("no status after the request");
  }
  entry["status"] = std::to_string(status);
  std::string rest(cursor + consumed);
  std::size_t quotes = 0;
  std::size_t position = 0;
  while (quotes < 4 && (position = rest.find('"', position)) != std::string::npos) {
    ++quotes;
    ++position;
  }
  if (quotes == 4) {
    double seconds = 0;
    if (std::sscanf(rest.c_str() + position, " %lf", &seconds) == 1 && std::isfinite(seconds)) {
      entry["duration_ms"] = seconds * 1000.0;
    }
  }
  return entry;
}

}  // namespace

std::optional<LogFormat> log_format_named(const std::string& name) {
  if (name == "json") {
    return LogFormat::kNginxJson;
  }
  if (name == "combined") {
    return LogFormat::kCombined;
  }
  if (name == "jsonlog") {
    return LogFormat::kJsonlog;
  }
  return std::nullopt;
}

ParsedLine parse_log_line(const std::string& line, LogFormat format) {
  switch (format) {
    case LogFormat::kNginxJson:
      return parse_nginx_json(line);
    case LogFormat::kCombined:
      return parse_combined(line);
    case LogFormat::kJsonlog: {
      auto parsed = nlohmann::json::parse(line, nullptr, false);
      if (!parsed.is_object()) {
        return std::string("not a JSON object");
      }
      return parsed;
    }
  }
  return std::string("unknown format");
}

}  // namespace expense_ops::worker
