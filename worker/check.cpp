#include "worker/check.hpp"

#include <cstdio>
#include <ctime>

namespace expense_ops::worker {

bool CheckDefinition::operator==(const CheckDefinition& other) const {
  return id == other.id && kind == other.kind && target == other.target && method == other.method &&
         headers == other.headers && body == other.body &&
         expected_status == other.expected_status && expected_body == other.expected_body &&
         credentials == other.credentials && every == other.every && timeout == other.timeout;
}

std::string iso8601(WallTime instant) {
  const auto since_epoch =
      std::chrono::duration_cast<std::chrono::microseconds>(instant.time_since_epoch()).count();
  long long seconds = since_epoch / 1'000'000;
  long long micros = since_epoch % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    --seconds;
  }
  const std::time_t time = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[48];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros);
  return text;
}

std::string short_detail(const std::string& text) {
  constexpr std::size_t kMax = 300;
  std::string out;
  for (const char c : text) {
    if (out.size() >= kMax) {
      out += "...";
      break;
    }
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return out;
}

std::string results_json(const std::vector<CheckResult>& results, const std::string& worker_id) {
  core::json::Array array;
  for (const CheckResult& result : results) {
    core::json::Object entry{{"check_id", result.check_id},
                             {"started_at", iso8601(result.started_at)},
                             {"outcome", result.outcome},
                             {"worker", worker_id}};
    if (result.duration_ms) {
      entry.emplace_back("duration_ms", *result.duration_ms);
    }
    if (result.status) {
      entry.emplace_back("status", *result.status);
    }
    if (!result.detail.empty()) {
      entry.emplace_back("detail", result.detail);
    }
    if (!result.timings.empty()) {
      entry.emplace_back("timings", result.timings);
    }
    array.emplace_back(std::move(entry));
  }
  return core::json::dump(core::json::Value(std::move(array)));
}

std::pair<std::string, std::string> judge_http(const CheckDefinition& check, long status,
                                               const std::string& body) {
  if (check.expected_status && status != *check.expected_status) {
    return {"down", "status " + std::to_string(status) + ", expected " +
                        std::to_string(*check.expected_status)};
  }
  if (check.expected_body && body.find(*check.expected_body) == std::string::npos) {
    return {"down", "the body does not contain " + short_detail(*check.expected_body)};
  }
  return {"up", ""};
}

std::string check_url(const std::string& target, const std::string& base_url) {
  return !target.empty() && target.front() == '/' ? base_url + target : target;
}

}  // namespace expense_ops::worker
