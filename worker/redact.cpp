#include "worker/redact.hpp"

#include <algorithm>
#include <cctype>

namespace expense_ops::worker {

namespace {

constexpr std::string_view kRedacted = "***";

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

bool is_keyword_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

bool ends_with_password(std::string_view word) {
  constexpr std::string_view kPassword = "password";
  return word.size() >= kPassword.size() &&
         std::equal(kPassword.rbegin(), kPassword.rend(), word.rbegin(), [](char a, char b) {
           return a == std::tolower(static_cast<unsigned char>(b));
         });
}

std::size_t skip_spaces(std::string_view text, std::size_t position) {
  while (position < text.size() && is_space(text[position])) {
    ++position;
  }
  return position;
}

// Where a keyword value that starts at `start` ends, the way libpq reads one: a single-quoted
// string, or a run up to the next blank, each with backslash escapes. An unterminated quote runs
// to the end, as does an escape at the very end.
std::size_t end_of_value(std::string_view text, std::size_t start) {
  if (start < text.size() && text[start] == '\'') {
    for (std::size_t i = start + 1; i < text.size(); ++i) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '\'') {
        return i + 1;
      }
    }
    return text.size();
  }
  std::size_t i = start;
  while (i < text.size() && !is_space(text[i])) {
    i += text[i] == '\\' ? 2 : 1;
  }
  return std::min(i, text.size());
}

// password=value, sslpassword = 'a value', PGPASSWORD=value: every keyword ending in
// "password", whatever its case, and the blanks libpq allows around '='.
std::string redact_password_keywords(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_keyword_char(text[i])) {
      out.push_back(text[i++]);
      continue;
    }
    std::size_t word_end = i;
    while (word_end < text.size() && is_keyword_char(text[word_end])) {
      ++word_end;
    }
    out.append(text.substr(i, word_end - i));
    const std::size_t equals = skip_spaces(text, word_end);
    if (!ends_with_password(text.substr(i, word_end - i)) || equals >= text.size() ||
        text[equals] != '=') {
      i = word_end;
      continue;
    }
    const std::size_t value_start = skip_spaces(text, equals + 1);
    const std::size_t value_end = end_of_value(text, value_start);
    out.append(text.substr(word_end, value_start - word_end));
    if (value_end > value_start) {
      out.append(kRedacted);
    }
    i = value_end;
  }
  return out;
}

// scheme://user:password@host...: the user stays, the password goes. The credentials end at the
// last '@' before the next blank rather than at the first '@' or '/', as libpq would read them:
// an operator's unescaped '@' or '/' in a password must not leave its tail in the log.
std::string redact_uri_passwords(std::string_view text) {
  constexpr std::string_view kSchemeEnd = "://";
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t scheme_end = text.find(kSchemeEnd); scheme_end != std::string_view::npos;
       scheme_end = text.find(kSchemeEnd, scheme_end + kSchemeEnd.size())) {
    const std::size_t authority = scheme_end + kSchemeEnd.size();
    if (authority < copied) {
      continue;  // inside credentials already redacted
    }
    std::size_t token_end = authority;
    while (token_end < text.size() && !is_space(text[token_end])) {
      ++token_end;
    }
    const std::size_t at = text.substr(authority, token_end - authority).rfind('@');
    if (at == std::string_view::npos) {
      continue;
    }
    const std::size_t colon = text.substr(authority, at).find(':');
    if (colon == std::string_view::npos) {
      continue;  // a user name alone
    }
    const std::size_t password_start = authority + colon + 1;
    out.append(text.substr(copied, password_start - copied));
    out.append(kRedacted);
    copied = authority + at;  // from the '@' on
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace

std::string redact_secrets(std::string_view text) {
  return redact_password_keywords(redact_uri_passwords(text));
}

std::string withhold_quoted_text(std::string_view libpq_message,
                                 const std::function<bool(std::string_view)>& may_show) {
  std::string out;
  out.reserve(libpq_message.size());
  std::size_t i = 0;
  while (i < libpq_message.size()) {
    if (libpq_message[i] != '"') {
      out.push_back(libpq_message[i++]);
      continue;
    }
    const std::size_t close = libpq_message.find('"', i + 1);
    if (close == std::string_view::npos) {
      out.append("\"...");
      break;
    }
    const std::string_view fragment = libpq_message.substr(i + 1, close - i - 1);
    if (fragment.size() == 1 || (may_show && may_show(fragment))) {
      out.append(libpq_message.substr(i, close - i + 1));
    } else {
      out.append("\"...\"");
    }
    i = close + 1;
  }
  return out;
}

}  // namespace expense_ops::worker
