// One check of ops.checks and one run's result (issue 11, section 2), and the rules that judge a
// run, in plain C++ so that tests can drive them without a network.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.hpp"
#include "worker/check_schedule.hpp"

namespace expense_ops::worker {

struct CheckDefinition {
  std::string id;
  std::string kind;    // http, tcp, db or sql
  std::string target;  // a URL or /path, host:port, a connection name, or the probe query
  std::string method;  // http
  std::vector<std::pair<std::string, std::string>> headers;  // http
  std::optional<std::string> body;                           // http
  std::optional<int> expected_status;                        // http
  std::optional<std::string> expected_body;                  // http: a substring
  std::optional<std::string> credentials;                    // the name of a secret
  Seconds every{60};
  Seconds timeout{10};

  // Whether a run would be the same check: what the scheduler keeps across reloads.
  bool operator==(const CheckDefinition& other) const;
};

struct CheckResult {
  std::string check_id;
  WallTime started_at;
  std::optional<double> duration_ms;
  std::string outcome;  // up, down, unknown
  std::optional<int> status;
  std::string detail;  // why it was down or unknown; empty when up
  core::json::Object timings;
};

// The JSON array ops.record_check_results() takes.
std::string results_json(const std::vector<CheckResult>& results, const std::string& worker_id);

// What an HTTP answer means for a check: up, or down with the reason.
std::pair<std::string, std::string> judge_http(const CheckDefinition& check, long status,
                                               const std::string& body);

// The URL of an http check: its target, or the base URL followed by a target that starts with /.
std::string check_url(const std::string& target, const std::string& base_url);

// A reason short enough for check_results.detail, with no control characters.
std::string short_detail(const std::string& text);

}  // namespace expense_ops::worker
