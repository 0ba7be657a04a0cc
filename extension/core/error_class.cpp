#include "core/error_class.hpp"

namespace expense_ops::core {

namespace {

using C = ErrorCategory;

// A code is matched by its class (the first two characters) and a prefix of its subclass (the
// last three; empty for the whole class), the way PostgreSQL's errcodes.txt groups them. These
// are codes recognised, not raised, so they are not the catalog's to hold.
struct SqlstateRule {
  std::string_view code_class;
  std::string_view subclass_prefix;
  ErrorCategory category;
};

constexpr SqlstateRule kSqlstateRules[] = {
    {"28", "", C::kAuthentication},     // invalid authorization specification
    {"42", "501", C::kAuthentication},  // insufficient privilege
    {"PT", "401", C::kAuthentication}, {"PT", "403", C::kAuthentication},

    {"22", "", C::kValidation},  // data exception
    {"23", "", C::kValidation},  // integrity constraint violation
    {"PT", "4", C::kValidation},

    {"08", "", C::kDatabase},  // connection exception
    {"0A", "", C::kDatabase},  // feature not supported
    {"25", "", C::kDatabase},  // invalid transaction state
    {"38", "", C::kDatabase},  // external routine exception
    {"39", "", C::kDatabase},  // external routine invocation exception
    {"3D", "", C::kDatabase},  // invalid catalog name
    {"3F", "", C::kDatabase},  // invalid schema name
    {"40", "", C::kDatabase},  // transaction rollback
    {"42", "", C::kDatabase},  // syntax error or access rule violation
    {"53", "", C::kDatabase},  // insufficient resources
    {"54", "", C::kDatabase},  // program limit exceeded
    {"55", "", C::kDatabase},  // object not in prerequisite state
    {"57", "", C::kDatabase},  // operator intervention
    {"58", "", C::kDatabase},  // system error
    {"P0", "", C::kDatabase},  // PL/pgSQL error
    {"XX", "", C::kDatabase},  // internal error

    {"HV", "", C::kExternal},  // foreign data wrapper error
    {"PT", "502", C::kExternal},       {"PT", "503", C::kExternal},
    {"PT", "504", C::kExternal},
};

// Statuses first..last; the narrowest range that holds a status decides.
struct HttpRule {
  int first;
  int last;
  ErrorCategory category;
};

constexpr HttpRule kHttpRules[] = {
    {401, 401, C::kAuthentication}, {403, 403, C::kAuthentication},

    {400, 499, C::kValidation},

    {503, 503, C::kDatabase},

    {408, 408, C::kExternal},  // request timeout: the far side was too slow to send it
    {429, 429, C::kExternal},       {502, 502, C::kExternal},       {504, 504, C::kExternal},
};

bool well_formed(std::string_view sqlstate) {
  if (sqlstate.size() != 5) {
    return false;
  }
  for (const char c : sqlstate) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) {
      return false;
    }
  }
  return true;
}

ErrorCategory by_sqlstate(std::string_view sqlstate) {
  const std::string_view code_class = sqlstate.substr(0, 2);
  const std::string_view subclass = sqlstate.substr(2);
  const SqlstateRule* best = nullptr;
  for (const auto& rule : kSqlstateRules) {
    if (rule.code_class == code_class &&
        subclass.substr(0, rule.subclass_prefix.size()) == rule.subclass_prefix &&
        (best == nullptr || rule.subclass_prefix.size() > best->subclass_prefix.size())) {
      best = &rule;
    }
  }
  return best != nullptr ? best->category : C::kUnknown;
}

ErrorCategory by_http_status(int status) {
  const HttpRule* best = nullptr;
  for (const auto& rule : kHttpRules) {
    if (status >= rule.first && status <= rule.last &&
        (best == nullptr || rule.last - rule.first < best->last - best->first)) {
      best = &rule;
    }
  }
  return best != nullptr ? best->category : C::kUnknown;
}

}  // namespace

std::string_view to_string(ErrorCategory category) {
  switch (category) {
    case C::kAuthentication:
      return "authentication";
    case C::kValidation:
      return "validation";
    case C::kDatabase:
      return "database";
    case C::kExternal:
      return "external";
    case C::kUnknown:
      return "unknown";
  }
  return "unknown";
}

ErrorCategory classify_error(std::optional<std::string_view> sqlstate,
                             std::optional<int> http_status) noexcept {
  if (sqlstate && well_formed(*sqlstate)) {
    return by_sqlstate(*sqlstate);
  }
  if (http_status) {
    return by_http_status(*http_status);
  }
  return C::kUnknown;
}

}  // namespace expense_ops::core
