// Alerting at the SQL boundary (extension/core/alerting.*): label sets and matchers. A jsonb
// object of strings is a label set, a jsonb array of {"name", "op", "value"} is a list of
// matchers.
#include <vector>

#include "core/alerting.hpp"
#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;

namespace {

// One key or value the iterator met: where its text is, or that it is not a string.
struct Token {
  JsonbIteratorToken kind;
  const char* text;
  int length;
  bool is_string;
  bool is_container_start;
};

struct Tokens {
  Token* items;
  int count;
  bool is_object;
  bool is_array;
};

// Every token of the document, read under guarded() into palloc'd plain data; the strings point
// into the detoasted document, which lives as long as the call.
Tokens read_tokens(Datum document) {
  return pg::guarded([&] {
    Jsonb* jsonb = DatumGetJsonbP(document);
    Tokens tokens{};
    tokens.is_object = JB_ROOT_IS_OBJECT(jsonb) && !JB_ROOT_IS_SCALAR(jsonb);
    tokens.is_array = JB_ROOT_IS_ARRAY(jsonb) && !JB_ROOT_IS_SCALAR(jsonb);
    int capacity = 16;
    tokens.items = static_cast<Token*>(palloc(sizeof(Token) * capacity));
    JsonbIterator* iterator = JsonbIteratorInit(&jsonb->root);
    JsonbValue value;
    JsonbIteratorToken kind;
    while ((kind = JsonbIteratorNext(&iterator, &value, false)) != WJB_DONE) {
      if (tokens.count == capacity) {
        capacity *= 2;
        tokens.items = static_cast<Token*>(repalloc(tokens.items, sizeof(Token) * capacity));
      }
      Token& token = tokens.items[tokens.count++];
      token.kind = kind;
      token.is_string =
          (kind == WJB_KEY || kind == WJB_VALUE || kind == WJB_ELEM) && value.type == jbvString;
      token.is_container_start = (kind == WJB_VALUE || kind == WJB_ELEM) && value.type == jbvBinary;
      token.text = token.is_string ? value.val.string.val : nullptr;
      token.length = token.is_string ? value.val.string.len : 0;
    }
    return tokens;
  });
}

std::string text_of(const Token& token) {
  return std::string(token.text, static_cast<std::size_t>(token.length));
}

[[noreturn]] void refuse(const char* name, const std::string& what, const char* hint) {
  throw core::RuleViolation(core::sqlstate::kInvalidMatcher, std::string(name) + ": " + what, hint);
}

constexpr char kLabelsHint[] =
    R"(Labels are a JSON object of strings, such as {"route": "/expenses"}.)";
constexpr char kMatchersHint[] =
    R"(Matchers are a JSON array such as [{"name": "route", "op": "=~", "value": "/rpc/.*"}]; op is =, !=, =~ or !~.)";

core::Labels labels_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  pg::require_argument(fcinfo, index, name);
  const Tokens tokens = read_tokens(PG_GETARG_DATUM(index));
  if (!tokens.is_object) {
    refuse(name, "not a JSON object", kLabelsHint);
  }
  core::Labels labels;
  for (int i = 0; i < tokens.count; ++i) {
    if (tokens.items[i].kind != WJB_KEY) {
      continue;
    }
    const Token& value = tokens.items[i + 1];
    if (!value.is_string) {
      refuse(name, "the value of \"" + text_of(tokens.items[i]) + "\" is not a string",
             kLabelsHint);
    }
    labels.emplace(text_of(tokens.items[i]), text_of(value));
  }
  return labels;
}

std::vector<core::alerting::Matcher> matchers_argument(FunctionCallInfo fcinfo, int index,
                                                       const char* name) {
  pg::require_argument(fcinfo, index, name);
  const Tokens tokens = read_tokens(PG_GETARG_DATUM(index));
  if (!tokens.is_array) {
    refuse(name, "not a JSON array", kMatchersHint);
  }
  std::vector<core::alerting::Matcher> matchers;
  int depth = 0;
  std::optional<std::string> field_name, op, value;
  for (int i = 0; i < tokens.count; ++i) {
    const Token& token = tokens.items[i];
    if (token.kind == WJB_BEGIN_ARRAY || token.kind == WJB_BEGIN_OBJECT) {
      ++depth;
      if (token.kind == WJB_BEGIN_OBJECT && depth == 2) {
        field_name.reset();
        op.reset();
        value.reset();
      } else if (depth > 2 || (token.kind == WJB_BEGIN_ARRAY && depth == 2)) {
        refuse(name, "each matcher is an object of three strings", kMatchersHint);
      }
    } else if (token.kind == WJB_END_OBJECT && depth == 2) {
      --depth;
      if (!field_name || !op || !value) {
        refuse(name,
               "matcher " + std::to_string(matchers.size() + 1) + " lacks its name, op or value",
               kMatchersHint);
      }
      matchers.push_back(core::alerting::make_matcher(*field_name, *op, *value));
    } else if (token.kind == WJB_END_ARRAY || token.kind == WJB_END_OBJECT) {
      --depth;
    } else if (token.kind == WJB_ELEM) {
      refuse(name, "each matcher is an object, not a scalar", kMatchersHint);
    } else if (token.kind == WJB_KEY) {
      const Token& member = tokens.items[i + 1];
      if (!member.is_string) {
        refuse(name, "\"" + text_of(token) + "\" of a matcher is not a string", kMatchersHint);
      }
      const std::string key = text_of(token);
      std::optional<std::string>* slot = key == "name"    ? &field_name
                                         : key == "op"    ? &op
                                         : key == "value" ? &value
                                                          : nullptr;
      if (slot == nullptr) {
        refuse(name, "a matcher has no field \"" + key + "\"", kMatchersHint);
      }
      *slot = text_of(member);
      ++i;  // the value is read
    }
  }
  return matchers;
}

}  // namespace

// ops.labels_match(matchers jsonb, labels jsonb) RETURNS boolean: Alertmanager's semantics.
EXPENSE_OPS_FUNCTION(expense_ops_labels_match) {
  const auto matchers = matchers_argument(fcinfo, 0, "matchers");
  const core::Labels labels = labels_argument(fcinfo, 1, "labels");
  PG_RETURN_BOOL(core::alerting::matches_all(matchers, labels));
}

// ops.check_matchers(matchers jsonb) RETURNS boolean: true, or the error that names the flaw.
EXPENSE_OPS_FUNCTION(expense_ops_check_matchers) {
  (void)matchers_argument(fcinfo, 0, "matchers");
  PG_RETURN_BOOL(true);
}
