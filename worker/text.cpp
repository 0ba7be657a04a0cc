#include "worker/text.hpp"

#include <cctype>
#include <fstream>
#include <sstream>

namespace expense_ops::worker {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return std::nullopt;
  }
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::string one_line_excerpt(std::string_view text, std::size_t limit) {
  text = trimmed(text);
  const bool cut = text.size() > limit;
  text = text.substr(0, limit);
  // What a receiver or a command says may be any bytes (a Latin-1 error page, binary stderr), and
  // the database takes only UTF-8: a byte that does not start a whole, valid sequence becomes '?'.
  std::string line;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto byte = static_cast<unsigned char>(text[at]);
    if (byte < 0x80) {
      line.push_back(byte < 0x20 || byte == 0x7f ? ' ' : static_cast<char>(byte));
      ++at;
      continue;
    }
    const std::size_t length = byte >= 0xC2 && byte <= 0xDF   ? 2
                               : byte >= 0xE0 && byte <= 0xEF ? 3
                               : byte >= 0xF0 && byte <= 0xF4 ? 4
                                                              : 0;
    bool whole = length > 0 && at + length <= text.size();
    for (std::size_t i = 1; whole && i < length; ++i) {
      whole = (static_cast<unsigned char>(text[at + i]) & 0xC0) == 0x80;
    }
    if (whole && length >= 3) {  // no overlong forms, no surrogates, nothing past U+10FFFF
      const auto second = static_cast<unsigned char>(text[at + 1]);
      whole = !(byte == 0xE0 && second < 0xA0) && !(byte == 0xED && second >= 0xA0) &&
              !(byte == 0xF0 && second < 0x90) && !(byte == 0xF4 && second >= 0x90);
    }
    if (whole) {
      line.append(text.substr(at, length));
      at += length;
    } else if (cut && length > 0 && at + length > text.size()) {
      break;  // a character cut by the limit goes whole
    } else {
      line.push_back('?');
      ++at;
    }
  }
  if (cut) {
    line += "...";
  }
  return line;
}

}  // namespace expense_ops::worker
