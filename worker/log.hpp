// Structured logs: one JSON object per line on stdout, {"ts", "level", "event", ...fields}.
#pragma once

#include <string>
#include <string_view>

#include "core/json.hpp"

namespace expense_ops::worker::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError };

// Sets up the process-wide logger. `level_name` is one of trace, debug, info, warn, error.
void init(const std::string& level_name);

// Changes the level of the process-wide logger (SIGHUP).
void set_level(const std::string& level_name);

// The fields of one log line after ts and level, as JSON text without braces:
// "event":"connected","attempt":3. Exposed for tests.
std::string format_fields(std::string_view event, const core::json::Object& fields);

void write(Level level, std::string_view event, const core::json::Object& fields = {});

// A line whose last field, `document_name`, is a JSON document as text (one line, such as
// jsonb's output): the log channel's notification, written as the database holds it.
void write_with_document(Level level, std::string_view event, const core::json::Object& fields,
                         std::string_view document_name, std::string_view document_json);

inline void info(std::string_view event, const core::json::Object& fields = {}) {
  write(Level::kInfo, event, fields);
}
inline void warn(std::string_view event, const core::json::Object& fields = {}) {
  write(Level::kWarn, event, fields);
}
inline void error(std::string_view event, const core::json::Object& fields = {}) {
  write(Level::kError, event, fields);
}
inline void debug(std::string_view event, const core::json::Object& fields = {}) {
  write(Level::kDebug, event, fields);
}

}  // namespace expense_ops::worker::log
