#include "worker/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace expense_ops::worker::log {

namespace {

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void init(const std::string& level_name) {
  auto logger = spdlog::stdout_logger_mt("expense-ops-worker");
  // spdlog writes the timestamp and level; format_fields writes the rest, already escaped.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level_name));
  // Every line is flushed: the log is how operators and the tests follow the worker.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

void set_level(const std::string& level_name) {
  spdlog::default_logger_raw()->set_level(spdlog::level::from_str(level_name));
}

std::string format_fields(std::string_view event, const core::json::Object& fields) {
  std::string out = "\"event\":";
  core::json::append_quoted(out, event);
  for (const auto& [name, value] : fields) {
    out.push_back(',');
    core::json::append_quoted(out, name);
    out.push_back(':');
    out += core::json::dump(value);
  }
  return out;
}

void write(Level level, std::string_view event, const core::json::Object& fields) {
  const auto spdlog_level = to_spdlog(level);
  if (!spdlog::default_logger_raw()->should_log(spdlog_level)) {
    return;
  }
  spdlog::default_logger_raw()->log(spdlog_level, "{}", format_fields(event, fields));
}

void write_with_document(Level level, std::string_view event, const core::json::Object& fields,
                         std::string_view document_name, std::string_view document_json) {
  const auto spdlog_level = to_spdlog(level);
  if (!spdlog::default_logger_raw()->should_log(spdlog_level)) {
    return;
  }
  std::string line = format_fields(event, fields);
  line.push_back(',');
  core::json::append_quoted(line, document_name);
  line.push_back(':');
  // Whitespace between JSON tokens may be a line break, which would split the line; inside a
  // string it is escaped already.
  for (const char c : document_json) {
    line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  }
  spdlog::default_logger_raw()->log(spdlog_level, "{}", line);
}

}  // namespace expense_ops::worker::log
