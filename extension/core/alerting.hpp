// Alerting: the rules that decide when a threshold alert fires, whom it concerns and what its
// notification says, with Prometheus' and Alertmanager's semantics so that operators meet no
// surprises. Everything here is a pure function of its arguments; the caller passes the time.
//
// Severities order alerts (info < warning < high < critical); the three above info open an
// incident of priority P2, P1 and P0.
//
// Label matchers are Alertmanager's: `=` and `!=` compare the value, `=~` and `!~` match an
// ECMAScript regex against the whole value (anchored at both ends, as Alertmanager anchors
// them). A label the set does not have counts as the empty string, so `team=""` and `team=~""`
// select alerts without a team. Regexes are matched by simulating the automaton, in time
// bounded by the value's length times the regex's size and without recursing per character,
// so no label value can exhaust the stack. The price is that backreferences are refused (as
// Alertmanager's RE2 refuses them), and so are regexes longer than 1024 bytes, whose
// compilation recurses once per nesting level.
//
// The fingerprint identifies an alert by its labels: Prometheus' LabelsToSignature, a 64-bit
// FNV-1a over the labels in name order, each as name, 0xff, value, 0xff; written as 16 lowercase
// hex digits. The empty label set hashes to the FNV offset basis, cbf29ce484222325.
//
// The alert state machine follows Prometheus' rule evaluation. Each evaluation reports whether
// the rule's condition holds at `at`:
//
//   condition true                        condition false
//   inactive, resolved -> pending          pending  -> inactive (dropped, nobody is notified)
//     (-> firing at once when for = 0)     firing   -> firing while at - last_true_at <
//   pending -> firing once                              keep_firing_for, else resolved
//     at - active_since >= for             inactive, resolved: stay
//   firing  -> firing
//
// An evaluation at or before the last one changes nothing, so a repeated or late call (two
// workers, a retried transaction) can neither fire an alert twice nor move its clock back.
// Unlike Prometheus, keep_firing_for counts from the last evaluation that held rather than from
// the first that did not; the two differ by at most one evaluation interval.
//
// Templates are the subset of Prometheus' that annotations need: `{{ $value }}` and
// `{{ $labels.NAME }}`, with optional spaces or tabs inside the braces; everything else is
// copied. A label the alert does not have renders as `<no value>`, as Go templates print it.
//
// Errors (RuleViolation): 22X62 unknown severity, 22X63 unknown comparator, 22X64 a bad matcher
// (empty name, unknown operator, regex that does not compile or is too long), 22X65 a negative
// duration, 22X66 a template that does not parse, 22X67 unknown alert state, and 22023 a retry
// attempt below 1 or a jitter outside [0, 1).
#pragma once

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "core/labels.hpp"
#include "core/time.hpp"

namespace expense_ops::core::alerting {

enum class Severity { kInfo, kWarning, kHigh, kCritical };

// Exact lowercase names: "info", "warning", "high", "critical"; otherwise 22X62.
Severity parse_severity(std::string_view name);
std::string_view to_string(Severity severity);
// The incident a severity opens: critical "P0", high "P1", warning "P2"; info opens none.
std::optional<std::string_view> incident_priority(Severity severity);

enum class Comparator { kGreater, kGreaterOrEqual, kLess, kLessOrEqual, kEqual, kNotEqual };

// ">", ">=", "<", "<=", "==", "!="; otherwise 22X63, whose hint lists them.
Comparator parse_comparator(std::string_view symbol);
std::string_view to_string(Comparator comparator);
// Whether `value comparator threshold` holds. A NaN on either side never holds, not even for
// "!=": a measurement that failed is no evidence that anything is wrong.
bool holds(Comparator comparator, double value, double threshold);

enum class MatchOp { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

std::string_view to_string(MatchOp op);  // "=", "!=", "=~", "!~"

struct Matcher {
  std::string name;
  MatchOp op = MatchOp::kEqual;
  std::string value;
  // `value` compiled, for the regex operators; make_matcher fills it in. A matcher built by
  // hand without it compiles `value` on every match.
  std::optional<std::regex> pattern;
};

// A matcher, or 22X64 naming the field: an empty name, an operator other than "=", "!=", "=~",
// "!~", or for the regex operators a value that does not compile (or is longer than 1024 bytes).
Matcher make_matcher(std::string name, std::string_view op, std::string value);

// Whether the labels satisfy the matcher; a missing label counts as "".
bool matches(const Matcher& matcher, const Labels& labels);
// Whether the labels satisfy every matcher; true for no matchers.
bool matches_all(const std::vector<Matcher>& matchers, const Labels& labels);

// 16 lowercase hex digits, the same on every platform and run (see above).
std::string fingerprint(const Labels& labels);

enum class AlertState { kInactive, kPending, kFiring, kResolved };

std::string_view to_string(AlertState state);         // "inactive", "pending", "firing", "resolved"
AlertState parse_alert_state(std::string_view name);  // exact names, otherwise 22X67

struct AlertRecord {
  AlertState state = AlertState::kInactive;
  std::optional<Instant> active_since;  // when the condition began to hold, this episode
  std::optional<Instant> firing_since;  // when the alert fired, this episode
  std::optional<Instant> last_true_at;  // the last evaluation at which the condition held
  std::optional<Instant> resolved_at;   // when the alert resolved, if it has
  std::optional<Instant> last_evaluated_at;
  double value = 0;  // the value of the last evaluation at which the condition held
};

struct RuleTiming {
  // How long the condition must hold before a pending alert fires.
  std::chrono::microseconds for_duration{0};
  // How long a firing alert keeps firing after the condition last held; rides out flapping.
  std::chrono::microseconds keep_firing_for{0};
};

// 22X65 naming the duration that is negative.
RuleTiming make_timing(std::chrono::microseconds for_duration,
                       std::chrono::microseconds keep_firing_for);

struct Step {
  AlertRecord next;
  std::optional<AlertState> transition;  // the new state, when it differs from the previous one
};

// One evaluation of a rule whose condition does or does not hold at `at`, per the table above.
// `value` is recorded only when the condition holds. Entering pending or firing from inactive
// or resolved starts a new episode: firing_since and resolved_at of the previous one are
// cleared.
Step evaluate(const AlertRecord& previous, bool condition, double value, Instant at,
              const RuleTiming& timing);

// 22X66 when the template does not parse; the message says what is wrong at which byte offset.
void check_template(std::string_view text);
// The template with its actions replaced: $value in the shortest text that reads back as the
// same double (json::format_number), each $labels.NAME by the label's value or "<no value>".
// Refuses what check_template refuses.
std::string render_template(std::string_view text, double value, const Labels& labels);

// How long to wait before delivery attempt `attempt` + 1 after attempt `attempt` (>= 1) failed:
// base * 2^(attempt - 1), capped at `cap`, then "equal jitter": half of that fixed plus
// `jitter_unit` (uniform in [0, 1), from the caller's random source) times the other half.
// 22023 for an attempt below 1 or a jitter outside [0, 1); 22X65 for a negative base or cap.
std::chrono::microseconds retry_delay(int attempt, std::chrono::microseconds base,
                                      std::chrono::microseconds cap, double jitter_unit);

}  // namespace expense_ops::core::alerting
