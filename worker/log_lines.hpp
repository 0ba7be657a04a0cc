// Log lines into the entries ops.ship_log() takes (issue 11, section 4), in plain C++:
//   - nginx's JSON lines, with the log_format docs/worker.md gives (keys time, method, uri,
//     status, request_time);
//   - the combined format (nginx's default, close to PostgREST's own), with an optional
//     $request_time (seconds) after it, since ops.request_log needs a duration;
//   - PostgreSQL's jsonlog, passed on as it is: ops.ingest_errors() reads its keys.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

namespace expense_ops::worker {

enum class LogFormat { kNginxJson, kCombined, kJsonlog };

// "json", "combined" or "jsonlog".
std::optional<LogFormat> log_format_named(const std::string& name);

// An entry for ops.ship_log, or why the line is not one.
using ParsedLine = std::variant<nlohmann::json, std::string>;

ParsedLine parse_log_line(const std::string& line, LogFormat format);

}  // namespace expense_ops::worker
