#include "core/alerting.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "core/error.hpp"
#include "core/json.hpp"

// The default executor of libstdc++'s std::regex recurses once per character of the subject,
// so a long label value overflows the stack, which in a PostgreSQL backend is a crash that
// restarts the whole cluster. Its polynomial mode, a libstdc++ extension, does not recurse; any
// other standard library is refused here rather than silently bringing the crash back.
#if !defined(__GLIBCXX__)
#error "core/alerting.cpp relies on libstdc++'s polynomial std::regex mode (see above)"
#endif

namespace expense_ops::core::alerting {

namespace {

using std::chrono::microseconds;

// Enum and name in one table each, so parsing and printing agree.
constexpr std::pair<Severity, std::string_view> kSeverityNames[] = {
    {Severity::kInfo, "info"},
    {Severity::kWarning, "warning"},
    {Severity::kHigh, "high"},
    {Severity::kCritical, "critical"}};
constexpr std::pair<Comparator, std::string_view> kComparatorSymbols[] = {
    {Comparator::kGreater, ">"}, {Comparator::kGreaterOrEqual, ">="},
    {Comparator::kLess, "<"},    {Comparator::kLessOrEqual, "<="},
    {Comparator::kEqual, "=="},  {Comparator::kNotEqual, "!="}};
constexpr std::pair<MatchOp, std::string_view> kMatchOpSymbols[] = {{MatchOp::kEqual, "="},
                                                                    {MatchOp::kNotEqual, "!="},
                                                                    {MatchOp::kRegexMatch, "=~"},
                                                                    {MatchOp::kRegexNoMatch, "!~"}};
constexpr std::pair<AlertState, std::string_view> kAlertStateNames[] = {
    {AlertState::kInactive, "inactive"},
    {AlertState::kPending, "pending"},
    {AlertState::kFiring, "firing"},
    {AlertState::kResolved, "resolved"}};

template <typename Enum, std::size_t N>
std::optional<Enum> find_by_name(const std::pair<Enum, std::string_view> (&table)[N],
                                 std::string_view name) {
  for (const auto& [candidate, candidate_name] : table) {
    if (candidate_name == name)
      return candidate;
  }
  return std::nullopt;
}

template <typename Enum, std::size_t N>
std::string_view name_of(const std::pair<Enum, std::string_view> (&table)[N], Enum value,
                         const char* what) {
  for (const auto& [candidate, name] : table) {
    if (candidate == value)
      return name;
  }
  throw RuleViolation(sqlstate::kInternalError, std::string("unhandled ") + what);
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// Compilation recurses once per nesting level; 1024 bytes nest at most 512 deep, far from the
// stack's limit even under AddressSanitizer.
constexpr std::size_t kMaxRegexBytes = 1024;

std::regex compile_regex(const std::string& label, const std::string& regex) {
  if (regex.size() > kMaxRegexBytes) {
    throw RuleViolation(sqlstate::kInvalidMatcher,
                        "matcher value: the regex for label " + quoted(label) + " is " +
                            std::to_string(regex.size()) + " bytes, longer than the limit of " +
                            std::to_string(kMaxRegexBytes),
                        "Shorten the regex; a common prefix with .* often replaces a long "
                        "alternation.");
  }
  try {
    return std::regex(regex, std::regex::ECMAScript | std::regex_constants::__polynomial);
  } catch (const std::regex_error& error) {
    throw RuleViolation(sqlstate::kInvalidMatcher,
                        "matcher value: " + quoted(regex) + " for label " + quoted(label) +
                            " is not a valid regex: " + error.what(),
                        "Write an ECMAScript regex without backreferences. It must match the "
                        "whole label value, so use .* for any prefix or suffix.");
  }
}

// Whether `to - from >= span`, also for instants so far apart that the subtraction would
// overflow.
bool apart_at_least(Instant from, Instant to, microseconds span) {
  const std::int64_t start = from.time_since_epoch().count();
  const std::int64_t end = to.time_since_epoch().count();
  const std::int64_t length = span.count();
  if (length > 0 && start > std::numeric_limits<std::int64_t>::max() - length)
    return false;
  if (length < 0 && start < std::numeric_limits<std::int64_t>::min() - length)
    return true;
  return end >= start + length;
}

// A template is literal text and actions; the views point into the template's text.
struct Segment {
  enum class Kind { kText, kValue, kLabel };
  Kind kind;
  std::string_view text;  // the literal text, or the label's name
};

constexpr std::string_view kTemplateHint =
    "The only actions are {{ $value }} and {{ $labels.NAME }}, where NAME starts with a letter "
    "or _ and continues with letters, digits or _; write any other text outside double braces.";

bool is_label_name(std::string_view name) {
  const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (name.empty() || !(letter(name[0]) || name[0] == '_'))
    return false;
  for (const char c : name) {
    if (!(letter(c) || digit(c) || c == '_'))
      return false;
  }
  return true;
}

Segment parse_action(std::string_view action, std::size_t offset) {
  std::string_view inner = action;
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!inner.empty() && blank(inner.front())) inner.remove_prefix(1);
  while (!inner.empty() && blank(inner.back())) inner.remove_suffix(1);

  if (inner == "$value")
    return {Segment::Kind::kValue, {}};
  constexpr std::string_view kLabelsPrefix = "$labels.";
  if (inner.substr(0, kLabelsPrefix.size()) == kLabelsPrefix &&
      is_label_name(inner.substr(kLabelsPrefix.size()))) {
    return {Segment::Kind::kLabel, inner.substr(kLabelsPrefix.size())};
  }
  throw RuleViolation(sqlstate::kTemplateUnparseable,
                      "template: unsupported action \"{{" + std::string(action) + "}}\" at byte " +
                          std::to_string(offset),
                      std::string(kTemplateHint));
}

std::vector<Segment> parse_template(std::string_view text) {
  std::vector<Segment> segments;
  std::size_t literal_start = 0;
  const auto end_literal = [&](std::size_t end) {
    if (end > literal_start)
      segments.push_back({Segment::Kind::kText, text.substr(literal_start, end - literal_start)});
  };
  std::size_t position = 0;
  while (position < text.size()) {
    const std::string_view rest = text.substr(position);
    if (rest.substr(0, 2) == "{{") {
      end_literal(position);
      const std::size_t close = text.find("}}", position + 2);
      if (close == std::string_view::npos) {
        throw RuleViolation(sqlstate::kTemplateUnparseable,
                            "template: the \"{{\" at byte " + std::to_string(position) +
                                " is never closed by \"}}\"",
                            std::string(kTemplateHint));
      }
      segments.push_back(parse_action(text.substr(position + 2, close - position - 2), position));
      position = close + 2;
      literal_start = position;
    } else if (rest.substr(0, 2) == "}}") {
      throw RuleViolation(
          sqlstate::kTemplateUnparseable,
          "template: stray \"}}\" at byte " + std::to_string(position) + " closes no action",
          std::string(kTemplateHint));
    } else {
      ++position;
    }
  }
  end_literal(text.size());
  return segments;
}

}  // namespace

Severity parse_severity(std::string_view name) {
  if (const auto severity = find_by_name(kSeverityNames, name))
    return *severity;
  throw RuleViolation(sqlstate::kUnknownSeverity,
                      "severity: " + quoted(name) +
                          " is not a severity; valid severities: info, warning, high, critical",
                      "Use one of the severities exactly as written, in lowercase.");
}

std::string_view to_string(Severity severity) {
  return name_of(kSeverityNames, severity, "severity");
}

std::optional<std::string_view> incident_priority(Severity severity) {
  switch (severity) {
    case Severity::kCritical:
      return "P0";
    case Severity::kHigh:
      return "P1";
    case Severity::kWarning:
      return "P2";
    case Severity::kInfo:
      return std::nullopt;
  }
  throw RuleViolation(sqlstate::kInternalError, "unhandled severity");
}

Comparator parse_comparator(std::string_view symbol) {
  if (const auto comparator = find_by_name(kComparatorSymbols, symbol))
    return *comparator;
  throw RuleViolation(sqlstate::kInvalidComparator,
                      "comparator: " + quoted(symbol) + " is not a comparator",
                      "Use one of >, >=, <, <=, ==, != exactly as written, without spaces; "
                      "equality is ==, not =.");
}

std::string_view to_string(Comparator comparator) {
  return name_of(kComparatorSymbols, comparator, "comparator");
}

bool holds(Comparator comparator, double value, double threshold) {
  if (std::isnan(value) || std::isnan(threshold))
    return false;
  switch (comparator) {
    case Comparator::kGreater:
      return value > threshold;
    case Comparator::kGreaterOrEqual:
      return value >= threshold;
    case Comparator::kLess:
      return value < threshold;
    case Comparator::kLessOrEqual:
      return value <= threshold;
    case Comparator::kEqual:
      return value == threshold;
    case Comparator::kNotEqual:
      return value != threshold;
  }
  throw RuleViolation(sqlstate::kInternalError, "unhandled comparator");
}

std::string_view to_string(MatchOp op) {
  return name_of(kMatchOpSymbols, op, "match operator");
}

Matcher make_matcher(std::string name, std::string_view op, std::string value) {
  if (name.empty()) {
    throw RuleViolation(sqlstate::kInvalidMatcher, "matcher name: must not be empty",
                        "Name the label to match, as in severity=\"critical\".");
  }
  const auto match_op = find_by_name(kMatchOpSymbols, op);
  if (!match_op) {
    throw RuleViolation(sqlstate::kInvalidMatcher,
                        "matcher op: " + quoted(op) + " for label " + quoted(name) +
                            " is not an operator; valid operators: =, !=, =~, !~",
                        "Use = or != to compare the value, =~ or !~ to match it against a regex.");
  }
  Matcher matcher{std::move(name), *match_op, std::move(value), std::nullopt};
  if (matcher.op == MatchOp::kRegexMatch || matcher.op == MatchOp::kRegexNoMatch)
    matcher.pattern = compile_regex(matcher.name, matcher.value);
  return matcher;
}

bool matches(const Matcher& matcher, const Labels& labels) {
  const auto found = labels.find(matcher.name);
  const std::string_view actual =
      found == labels.end() ? std::string_view("") : std::string_view(found->second);
  switch (matcher.op) {
    case MatchOp::kEqual:
      return actual == matcher.value;
    case MatchOp::kNotEqual:
      return actual != matcher.value;
    case MatchOp::kRegexMatch:
    case MatchOp::kRegexNoMatch: {
      std::optional<std::regex> compiled_here;
      const std::regex& pattern =
          matcher.pattern ? *matcher.pattern
                          : compiled_here.emplace(compile_regex(matcher.name, matcher.value));
      const bool matched = std::regex_match(actual.begin(), actual.end(), pattern);
      return matched == (matcher.op == MatchOp::kRegexMatch);
    }
  }
  throw RuleViolation(sqlstate::kInternalError, "unhandled match operator");
}

bool matches_all(const std::vector<Matcher>& matchers, const Labels& labels) {
  for (const auto& matcher : matchers) {
    if (!matches(matcher, labels))
      return false;
  }
  return true;
}

std::string fingerprint(const Labels& labels) {
  constexpr std::uint64_t kOffsetBasis = 14695981039346656037ULL;
  constexpr std::uint64_t kPrime = 1099511628211ULL;
  // Prometheus' model.SeparatorByte: it never occurs in UTF-8 text, so no two label sets
  // run together into the same bytes.
  constexpr unsigned char kSeparator = 0xff;

  std::uint64_t hash = kOffsetBasis;
  const auto add = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= kPrime;
  };
  const auto add_text = [&add](const std::string& text) {
    for (const char c : text) add(static_cast<unsigned char>(c));
    add(kSeparator);
  };
  // Labels is a std::map, so this already walks the names in byte order, as Prometheus sorts.
  for (const auto& [name, value] : labels) {
    add_text(name);
    add_text(value);
  }

  constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(16, '0');
  for (int i = 15; i >= 0; --i) {
    hex[static_cast<std::size_t>(i)] = kDigits[hash & 0xfU];
    hash >>= 4U;
  }
  return hex;
}

std::string_view to_string(AlertState state) {
  return name_of(kAlertStateNames, state, "alert state");
}

AlertState parse_alert_state(std::string_view name) {
  if (const auto state = find_by_name(kAlertStateNames, name))
    return *state;
  throw RuleViolation(
      sqlstate::kUnknownAlertState,
      "state: " + quoted(name) +
          " is not an alert state; valid states: inactive, pending, firing, resolved",
      "Use one of the states exactly as written, in lowercase.");
}

RuleTiming make_timing(microseconds for_duration, microseconds keep_firing_for) {
  const std::pair<std::string_view, microseconds> durations[] = {
      {"for", for_duration}, {"keep_firing_for", keep_firing_for}};
  for (const auto& [field, duration] : durations) {
    if (duration.count() < 0) {
      throw RuleViolation(sqlstate::kNegativeDuration,
                          std::string(field) + ": must not be negative, got " +
                              std::to_string(duration.count()) + " microseconds",
                          "Use 0 for none, or a positive interval such as '5 minutes'.");
    }
  }
  return {for_duration, keep_firing_for};
}

Step evaluate(const AlertRecord& previous, bool condition, double value, Instant at,
              const RuleTiming& timing) {
  if (previous.last_evaluated_at && at <= *previous.last_evaluated_at)
    return {previous, std::nullopt};

  AlertRecord next = previous;
  next.last_evaluated_at = at;
  if (condition) {
    next.last_true_at = at;
    next.value = value;
    switch (previous.state) {
      case AlertState::kInactive:
      case AlertState::kResolved:
        next.state = AlertState::kPending;
        next.active_since = at;
        next.firing_since.reset();
        next.resolved_at.reset();
        break;
      case AlertState::kPending:
        // A record stored without it cannot say how long it has been pending: start now
        // rather than fire on a guess.
        if (!next.active_since)
          next.active_since = at;
        break;
      case AlertState::kFiring:
        break;
    }
    if (next.state == AlertState::kPending &&
        apart_at_least(*next.active_since, at, timing.for_duration)) {
      next.state = AlertState::kFiring;
      next.firing_since = at;
    }
  } else {
    switch (previous.state) {
      case AlertState::kPending:
        next.state = AlertState::kInactive;
        next.active_since.reset();
        break;
      case AlertState::kFiring:
        if (!(previous.last_true_at &&
              !apart_at_least(*previous.last_true_at, at, timing.keep_firing_for))) {
          next.state = AlertState::kResolved;
          next.resolved_at = at;
        }
        break;
      case AlertState::kInactive:
      case AlertState::kResolved:
        break;
    }
  }

  Step step{next, std::nullopt};
  if (next.state != previous.state)
    step.transition = next.state;
  return step;
}

void check_template(std::string_view text) {
  parse_template(text);
}

std::string render_template(std::string_view text, double value, const Labels& labels) {
  std::string out;
  out.reserve(text.size());
  for (const auto& segment : parse_template(text)) {
    switch (segment.kind) {
      case Segment::Kind::kText:
        out += segment.text;
        break;
      case Segment::Kind::kValue:
        out += json::format_number(value);
        break;
      case Segment::Kind::kLabel: {
        const auto found = labels.find(std::string(segment.text));
        out += found == labels.end() ? std::string("<no value>") : found->second;
        break;
      }
    }
  }
  return out;
}

microseconds retry_delay(int attempt, microseconds base, microseconds cap, double jitter_unit) {
  if (attempt < 1) {
    throw RuleViolation(sqlstate::kInvalidParameterValue,
                        "attempt: must be at least 1, got " + std::to_string(attempt),
                        "Count delivery attempts from 1, the first attempt that failed.");
  }
  // NaN fails every comparison, so test for what is allowed rather than for what is not.
  if (!(jitter_unit >= 0.0 && jitter_unit < 1.0)) {
    throw RuleViolation(sqlstate::kInvalidParameterValue,
                        "jitter_unit: must lie in [0, 1), got " + json::format_number(jitter_unit),
                        "Pass a uniform random number from 0 inclusive to 1 exclusive.");
  }
  const std::pair<std::string_view, microseconds> durations[] = {{"base", base}, {"cap", cap}};
  for (const auto& [field, duration] : durations) {
    if (duration.count() < 0) {
      throw RuleViolation(sqlstate::kNegativeDuration,
                          std::string(field) + ": must not be negative, got " +
                              std::to_string(duration.count()) + " microseconds",
                          "Use a positive retry delay such as '30 seconds'.");
    }
  }

  // Shifting instead of multiplying in a loop: attempts can run into the millions when an
  // endpoint stays down, and base << shift must be checked before it overflows.
  const std::int64_t base_count = base.count();
  const std::int64_t cap_count = cap.count();
  const int shift = attempt - 1;
  std::int64_t delay = cap_count;
  if (base_count == 0) {
    delay = 0;
  } else if (shift < 63 && base_count <= (cap_count >> shift)) {
    delay = base_count << shift;
  }

  const std::int64_t fixed = delay / 2;
  const std::int64_t jittered = delay - fixed;
  const double extra = jitter_unit * static_cast<double>(jittered);
  // Rounding can bring a jitter just below 1 up to the whole half, and the conversion of a
  // double at 2^63 would be undefined.
  const std::int64_t extra_count =
      extra < static_cast<double>(jittered) ? static_cast<std::int64_t>(extra) : jittered;
  return microseconds(fixed + extra_count);
}

}  // namespace expense_ops::core::alerting
