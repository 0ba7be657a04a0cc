#include "worker/check.hpp"

#include "worker/text.hpp"

#include "core/time.hpp"

namespace expense_ops::worker {

bool CheckDefinition::operator==(const CheckDefinition& other) const {
  return id == other.id && kind == other.kind && target == other.target && method == other.method &&
         headers == other.headers && body == other.body &&
         expected_status == other.expected_status && expected_body == other.expected_body &&
         credentials == other.credentials && every == other.every && timeout == other.timeout;
}

std::string short_detail(const std::string& text) {
  constexpr std::size_t kMaxDetail = 300;
  return one_line_excerpt(text, kMaxDetail);
}

std::string results_json(const std::vector<CheckResult>& results, const std::string& worker_id) {
  core::json::Array array;
  for (const CheckResult& result : results) {
    core::json::Object entry{
        {"check_id", result.check_id},
        {"started_at", core::format_iso8601(std::chrono::time_point_cast<std::chrono::microseconds>(
                           result.started_at))},
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
