// Alerting at the SQL boundary (extension/core/alerting.*): label sets and matchers. A jsonb
// object of strings is a label set, a jsonb array of {"name", "op", "value"} is a list of
// matchers.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
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

namespace {

using MatcherList = std::vector<core::alerting::Matcher>;

// Compiled matcher lists by the bytes of their jsonb. An evaluation matches each rule's matchers
// against every series of its metric, and compiling a regex costs far more than matching it.
// A pure function of the bytes, so the cache never needs invalidating; it is emptied when full.
std::unordered_map<std::string, std::shared_ptr<const MatcherList>> compiled_matchers;
constexpr std::size_t kCompiledMatchersLimit = 4096;

std::shared_ptr<const MatcherList> cached_matchers(FunctionCallInfo fcinfo, int index,
                                                   const char* name) {
  pg::require_argument(fcinfo, index, name);
  const varlena* document = pg::guarded([&] {
    return reinterpret_cast<const varlena*>(PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(index)));
  });
  std::string key(VARDATA_ANY(document), VARSIZE_ANY_EXHDR(document));
  if (const auto found = compiled_matchers.find(key); found != compiled_matchers.end()) {
    return found->second;
  }
  auto compiled = std::make_shared<const MatcherList>(matchers_argument(fcinfo, index, name));
  if (compiled_matchers.size() >= kCompiledMatchersLimit) {
    compiled_matchers.clear();
  }
  compiled_matchers.emplace(std::move(key), compiled);
  return compiled;
}

}  // namespace

// ops.labels_match(matchers jsonb, labels jsonb) RETURNS boolean: Alertmanager's semantics.
EXPENSE_OPS_FUNCTION(expense_ops_labels_match) {
  const auto matchers = cached_matchers(fcinfo, 0, "matchers");
  const core::Labels labels = labels_argument(fcinfo, 1, "labels");
  PG_RETURN_BOOL(core::alerting::matches_all(*matchers, labels));
}

// ops.check_matchers(matchers jsonb) RETURNS boolean: true, or the error that names the flaw.
EXPENSE_OPS_FUNCTION(expense_ops_check_matchers) {
  (void)matchers_argument(fcinfo, 0, "matchers");
  PG_RETURN_BOOL(true);
}

namespace {

namespace alerting = core::alerting;

// A duration the way PostgreSQL compares intervals: a month is 30 days, a day 24 hours.
std::chrono::microseconds interval_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  pg::require_argument(fcinfo, index, name);
  const Interval* span = PG_GETARG_INTERVAL_P(index);
  return std::chrono::microseconds(
      span->time +
      (static_cast<std::int64_t>(span->month) * DAYS_PER_MONTH + span->day) * USECS_PER_DAY);
}

}  // namespace

// ops.label_fingerprint(labels jsonb) RETURNS text: Prometheus' signature of a label set.
EXPENSE_OPS_FUNCTION(expense_ops_label_fingerprint) {
  PG_RETURN_DATUM(pg::text_datum(alerting::fingerprint(labels_argument(fcinfo, 0, "labels"))));
}

// ops.check_comparator(comparator text) RETURNS text: the comparator, or 22X63.
EXPENSE_OPS_FUNCTION(expense_ops_check_comparator) {
  const auto comparator = alerting::parse_comparator(pg::text_argument(fcinfo, 0, "comparator"));
  PG_RETURN_DATUM(pg::text_datum(std::string(alerting::to_string(comparator))));
}

// ops.threshold_holds(comparator text, value float8, threshold float8) RETURNS boolean
EXPENSE_OPS_FUNCTION(expense_ops_threshold_holds) {
  const auto comparator = alerting::parse_comparator(pg::text_argument(fcinfo, 0, "comparator"));
  PG_RETURN_BOOL(alerting::holds(comparator, pg::float8_argument(fcinfo, 1, "value"),
                                 pg::float8_argument(fcinfo, 2, "threshold")));
}

// ops.severity_rank(severity text) RETURNS integer: info 0, warning 1, high 2, critical 3; or
// 22X62.
EXPENSE_OPS_FUNCTION(expense_ops_severity_rank) {
  PG_RETURN_INT32(
      static_cast<int32>(alerting::parse_severity(pg::text_argument(fcinfo, 0, "severity"))));
}

// ops.incident_priority(severity text) RETURNS text: P0, P1, P2, or NULL for info.
EXPENSE_OPS_FUNCTION(expense_ops_incident_priority) {
  const auto priority = alerting::incident_priority(
      alerting::parse_severity(pg::text_argument(fcinfo, 0, "severity")));
  if (!priority) {
    PG_RETURN_NULL();
  }
  PG_RETURN_DATUM(pg::text_datum(std::string(*priority)));
}

// ops.check_template(template text) RETURNS text: the template, or 22X66.
EXPENSE_OPS_FUNCTION(expense_ops_check_template) {
  const std::string text = pg::text_argument(fcinfo, 0, "template");
  alerting::check_template(text);
  PG_RETURN_DATUM(pg::text_datum(text));
}

// ops.render_template(template text, value float8, labels jsonb) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_render_template) {
  const std::string text = pg::text_argument(fcinfo, 0, "template");
  const double value = pg::float8_argument(fcinfo, 1, "value");
  PG_RETURN_DATUM(
      pg::text_datum(alerting::render_template(text, value, labels_argument(fcinfo, 2, "labels"))));
}

// ops.check_rule_timing(for_duration interval, keep_firing_for interval) RETURNS boolean: true,
// or 22X65 naming the negative one.
EXPENSE_OPS_FUNCTION(expense_ops_check_rule_timing) {
  (void)alerting::make_timing(interval_argument(fcinfo, 0, "for_duration"),
                              interval_argument(fcinfo, 1, "keep_firing_for"));
  PG_RETURN_BOOL(true);
}

// ops.alert_step(state, active_since, firing_since, last_true_at, resolved_at,
//                last_evaluated_at, value, condition, new_value, at, for_duration,
//                keep_firing_for, OUT ... the next record ..., OUT transition text)
// One evaluation of one alert (core/alerting.hpp). The record's instants may be NULL; a NULL
// state is a new alert, inactive.
EXPENSE_OPS_FUNCTION(expense_ops_alert_step) {
  alerting::AlertRecord previous;
  if (const auto state = pg::optional_text_argument(fcinfo, 0)) {
    previous.state = alerting::parse_alert_state(*state);
  }
  previous.active_since = pg::optional_timestamptz_argument(fcinfo, 1);
  previous.firing_since = pg::optional_timestamptz_argument(fcinfo, 2);
  previous.last_true_at = pg::optional_timestamptz_argument(fcinfo, 3);
  previous.resolved_at = pg::optional_timestamptz_argument(fcinfo, 4);
  previous.last_evaluated_at = pg::optional_timestamptz_argument(fcinfo, 5);
  previous.value = PG_ARGISNULL(6) ? 0 : PG_GETARG_FLOAT8(6);
  const bool condition = pg::bool_argument(fcinfo, 7, "condition");
  const double new_value = PG_ARGISNULL(8) ? 0 : PG_GETARG_FLOAT8(8);
  const auto at = pg::timestamptz_argument(fcinfo, 9, "at");
  const auto timing = alerting::make_timing(interval_argument(fcinfo, 10, "for_duration"),
                                            interval_argument(fcinfo, 11, "keep_firing_for"));

  const alerting::Step step = alerting::evaluate(previous, condition, new_value, at, timing);
  const alerting::AlertRecord& next = step.next;
  const std::string state(alerting::to_string(next.state));
  const std::string transition(step.transition ? alerting::to_string(*step.transition) : "");
  Datum values[8] = {
      pg::text_datum(state),
      pg::optional_timestamptz_datum(next.active_since),
      pg::optional_timestamptz_datum(next.firing_since),
      pg::optional_timestamptz_datum(next.last_true_at),
      pg::optional_timestamptz_datum(next.resolved_at),
      pg::optional_timestamptz_datum(next.last_evaluated_at),
      Float8GetDatum(next.value),
      step.transition ? pg::text_datum(transition) : Datum(0),
  };
  bool nulls[8] = {false,
                   !next.active_since,
                   !next.firing_since,
                   !next.last_true_at,
                   !next.resolved_at,
                   !next.last_evaluated_at,
                   false,
                   !step.transition};
  PG_RETURN_DATUM(pg::composite_datum(fcinfo, "ops.alert_step", values, nulls));
}

// ops.retry_delay(attempt integer, base interval, cap interval, jitter float8) RETURNS interval
EXPENSE_OPS_FUNCTION(expense_ops_retry_delay) {
  PG_RETURN_DATUM(pg::interval_datum(alerting::retry_delay(
      pg::int32_argument(fcinfo, 0, "attempt"), interval_argument(fcinfo, 1, "base"),
      interval_argument(fcinfo, 2, "cap"), pg::float8_argument(fcinfo, 3, "jitter"))));
}
