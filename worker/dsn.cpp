#include "worker/dsn.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string_view>

#include "worker/redact.hpp"
#include "worker/sql_errors.hpp"

namespace expense_ops::worker {

namespace {

struct ConninfoFree {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};

struct PqFree {
  void operator()(char* text) const { PQfreemem(text); }
};

bool is_set(const PQconninfoOption& option) {
  return option.val != nullptr && option.val[0] != '\0';
}

}  // namespace

DsnSummary summarize_dsn(const std::string& dsn) {
  char* raw_error = nullptr;
  const std::unique_ptr<PQconninfoOption, ConninfoFree> options(
      PQconninfoParse(dsn.c_str(), &raw_error));
  const std::unique_ptr<char, PqFree> error(raw_error);
  if (!options) {
    throw InvalidDsn(error ? describe_dsn_error(error.get()) : "libpq ran out of memory");
  }

  DsnSummary summary;
  for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    if (!is_set(*option)) {
      continue;
    }
    const std::string_view keyword = option->keyword;
    const std::string_view value = option->val;
    // libpq marks the options it never displays, the passwords, with the display character '*'.
    if (option->dispchar != nullptr && option->dispchar[0] == '*') {
      summary.has_password = true;
    }
    if (keyword == "host" || keyword == "hostaddr") {
      const std::size_t hosts = 1 + std::count(value.begin(), value.end(), ',');
      summary.host_count = std::max(summary.host_count, hosts);
    } else if (keyword == "target_session_attrs") {
      summary.target_session_attrs = value;
    }
  }
  return summary;
}

bool is_connection_keyword(std::string_view word) {
  static const std::set<std::string, std::less<>> keywords = [] {
    std::set<std::string, std::less<>> names;
    const std::unique_ptr<PQconninfoOption, ConninfoFree> defaults(PQconndefaults());
    for (const PQconninfoOption* option = defaults.get(); option && option->keyword; ++option) {
      names.emplace(option->keyword);
    }
    return names;
  }();
  return keywords.find(word) != keywords.end();
}

std::string describe_dsn_error(std::string_view libpq_message) {
  return one_line(redact_secrets(withhold_quoted_text(libpq_message, is_connection_keyword)));
}

}  // namespace expense_ops::worker
