// Text from outside (a receiver's answer, a command's output, a server's error) made fit for a
// log line and for a text column: one line, bounded, valid UTF-8.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace expense_ops::worker {

// `text` without the white space at either end.
std::string_view trimmed(std::string_view text);

// The whole of a file, byte for byte; nullopt when it cannot be opened.
std::optional<std::string> read_file(const std::string& path);

// One line of at most `limit` bytes of valid UTF-8, control characters and invalid bytes
// replaced: what an error may quote of a receiver's answer or a command's output.
std::string one_line_excerpt(std::string_view text, std::size_t limit = 200);

}  // namespace expense_ops::worker
