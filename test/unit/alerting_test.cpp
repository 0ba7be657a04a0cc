#include "core/alerting.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "caught.hpp"
#include "core/error.hpp"

namespace alerting = expense_ops::core::alerting;
namespace sqlstate = expense_ops::core::sqlstate;
using alerting::AlertRecord;
using alerting::AlertState;
using alerting::Comparator;
using alerting::MatchOp;
using alerting::Severity;
using expense_ops::core::format_iso8601;
using expense_ops::core::Instant;
using expense_ops::core::Labels;
using expense_ops::test::caught;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

const Instant kStart = Instant(microseconds(1'795'710'343'000'000LL));

Instant at_minute(int minute) {
  return kStart + minutes(minute);
}

std::string show(const std::optional<Instant>& instant) {
  return instant ? format_iso8601(*instant) : std::string("none");
}

void expect_same_record(const AlertRecord& actual, const AlertRecord& expected) {
  EXPECT_EQ(actual.state, expected.state);
  EXPECT_EQ(show(actual.active_since), show(expected.active_since));
  EXPECT_EQ(show(actual.firing_since), show(expected.firing_since));
  EXPECT_EQ(show(actual.last_true_at), show(expected.last_true_at));
  EXPECT_EQ(show(actual.resolved_at), show(expected.resolved_at));
  EXPECT_EQ(show(actual.last_evaluated_at), show(expected.last_evaluated_at));
  EXPECT_EQ(actual.value, expected.value);
}

// Runs evaluations in order and returns each step, for tests that follow an alert over time.
struct Evaluation {
  int minute;
  bool condition;
  double value;
};

std::vector<alerting::Step> run(const std::vector<Evaluation>& evaluations,
                                const alerting::RuleTiming& timing, AlertRecord record = {}) {
  std::vector<alerting::Step> steps;
  for (const auto& evaluation : evaluations) {
    steps.push_back(alerting::evaluate(record, evaluation.condition, evaluation.value,
                                       at_minute(evaluation.minute), timing));
    record = steps.back().next;
  }
  return steps;
}

}  // namespace

TEST(AlertingSeverity, NamesRoundTripAndOrder) {
  const std::pair<Severity, std::string> severities[] = {{Severity::kInfo, "info"},
                                                         {Severity::kWarning, "warning"},
                                                         {Severity::kHigh, "high"},
                                                         {Severity::kCritical, "critical"}};
  for (const auto& [severity, name] : severities) {
    EXPECT_EQ(alerting::parse_severity(name), severity);
    EXPECT_EQ(alerting::to_string(severity), name);
  }
  EXPECT_LT(Severity::kInfo, Severity::kWarning);
  EXPECT_LT(Severity::kWarning, Severity::kHigh);
  EXPECT_LT(Severity::kHigh, Severity::kCritical);
}

TEST(AlertingSeverity, OpensIncidentsAboveInfo) {
  EXPECT_EQ(alerting::incident_priority(Severity::kCritical), "P0");
  EXPECT_EQ(alerting::incident_priority(Severity::kHigh), "P1");
  EXPECT_EQ(alerting::incident_priority(Severity::kWarning), "P2");
  EXPECT_FALSE(alerting::incident_priority(Severity::kInfo));
}

TEST(AlertingSeverity, RefusesOtherNames) {
  for (const char* name : {"Critical", "crit", "", " info", "error", "P0"}) {
    const auto violation = caught([&] { alerting::parse_severity(name); });
    EXPECT_EQ(violation.sqlstate(), sqlstate::kUnknownSeverity) << name;
    EXPECT_NE(std::string(violation.what()).find("severity: \"" + std::string(name) + "\""),
              std::string::npos)
        << violation.what();
    EXPECT_NE(std::string(violation.what()).find("info, warning, high, critical"),
              std::string::npos);
    EXPECT_FALSE(violation.hint().empty());
  }
}

TEST(AlertingComparator, SymbolsRoundTrip) {
  const std::pair<Comparator, std::string> comparators[] = {
      {Comparator::kGreater, ">"}, {Comparator::kGreaterOrEqual, ">="},
      {Comparator::kLess, "<"},    {Comparator::kLessOrEqual, "<="},
      {Comparator::kEqual, "=="},  {Comparator::kNotEqual, "!="}};
  for (const auto& [comparator, symbol] : comparators) {
    EXPECT_EQ(alerting::parse_comparator(symbol), comparator);
    EXPECT_EQ(alerting::to_string(comparator), symbol);
  }
}

TEST(AlertingComparator, HoldsAsArithmeticDoes) {
  EXPECT_TRUE(alerting::holds(Comparator::kGreater, 2, 1));
  EXPECT_FALSE(alerting::holds(Comparator::kGreater, 1, 1));
  EXPECT_TRUE(alerting::holds(Comparator::kGreaterOrEqual, 1, 1));
  EXPECT_FALSE(alerting::holds(Comparator::kGreaterOrEqual, 0.5, 1));
  EXPECT_TRUE(alerting::holds(Comparator::kLess, -3, -2));
  EXPECT_FALSE(alerting::holds(Comparator::kLess, -2, -2));
  EXPECT_TRUE(alerting::holds(Comparator::kLessOrEqual, -2, -2));
  EXPECT_FALSE(alerting::holds(Comparator::kLessOrEqual, -1, -2));
  EXPECT_TRUE(alerting::holds(Comparator::kEqual, 0.0, -0.0));
  EXPECT_FALSE(alerting::holds(Comparator::kEqual, 0.1 + 0.2, 0.3));
  EXPECT_TRUE(alerting::holds(Comparator::kNotEqual, 0.1 + 0.2, 0.3));
  EXPECT_FALSE(alerting::holds(Comparator::kNotEqual, 7, 7));
  const double infinity = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(alerting::holds(Comparator::kGreater, infinity, 1e308));
  EXPECT_TRUE(alerting::holds(Comparator::kLess, -infinity, -1e308));
}

TEST(AlertingComparator, NaNNeverHolds) {
  const double nan = std::nan("");
  for (const auto comparator :
       {Comparator::kGreater, Comparator::kGreaterOrEqual, Comparator::kLess,
        Comparator::kLessOrEqual, Comparator::kEqual, Comparator::kNotEqual}) {
    EXPECT_FALSE(alerting::holds(comparator, nan, 1)) << alerting::to_string(comparator);
    EXPECT_FALSE(alerting::holds(comparator, nan, nan)) << alerting::to_string(comparator);
    EXPECT_FALSE(alerting::holds(comparator, 1, nan)) << alerting::to_string(comparator);
  }
}

TEST(AlertingComparator, RefusesOtherSymbols) {
  for (const char* symbol : {"=", "=>", "gt", "", " >", "<>", "==="}) {
    const auto violation = caught([&] { alerting::parse_comparator(symbol); });
    EXPECT_EQ(violation.sqlstate(), sqlstate::kInvalidComparator) << symbol;
    EXPECT_NE(std::string(violation.what()).find("comparator: \"" + std::string(symbol) + "\""),
              std::string::npos)
        << violation.what();
    EXPECT_NE(violation.hint().find(">, >=, <, <=, ==, !="), std::string::npos) << violation.hint();
  }
}

TEST(AlertingMatcher, EqualityAndInequality) {
  const Labels labels{{"severity", "critical"}, {"team", "payments"}};
  const auto critical = alerting::make_matcher("severity", "=", "critical");
  EXPECT_EQ(critical.op, MatchOp::kEqual);
  EXPECT_FALSE(critical.pattern);
  EXPECT_TRUE(alerting::matches(critical, labels));
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("severity", "=", "Critical"), labels));
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("severity", "!=", "critical"), labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("team", "!=", "billing"), labels));
  // The value of an equality matcher is text, not a regex: "(" is fine.
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("team", "=", "("), labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("team", "=", "("), {{"team", "("}}));
}

TEST(AlertingMatcher, RegexesMatchTheWholeValue) {
  const Labels labels{{"severity", "critical"}, {"instance", "api-1:9100"}};
  const auto crit = alerting::make_matcher("severity", "=~", "crit");
  ASSERT_TRUE(crit.pattern);
  EXPECT_FALSE(alerting::matches(crit, labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("severity", "=~", "crit.*"), labels));
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("severity", "=~", "ritica"), labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("severity", "=~", "high|critical"), labels));
  EXPECT_TRUE(
      alerting::matches(alerting::make_matcher("instance", "=~", "api-[0-9]+:\\d+"), labels));
  // Alternation is not cut short at the first branch that matches a prefix.
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("x", "=~", "a|ab"), {{"x", "ab"}}));
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("severity", "!~", "crit.*"), labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("severity", "!~", "crit"), labels));
  EXPECT_EQ(alerting::make_matcher("severity", "!~", "crit").op, MatchOp::kRegexNoMatch);
}

TEST(AlertingMatcher, MissingLabelCountsAsEmpty) {
  const Labels labels{{"severity", "critical"}};
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("team", "=", ""), labels));
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("team", "!=", ""), labels));
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("team", "=", "payments"), labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("team", "!=", "payments"), labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("team", "=~", ".*"), labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("team", "=~", ""), labels));
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("team", "=~", ".+"), labels));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("team", "!~", ".+"), labels));
  // A label that is present but empty is the same as a missing one.
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("team", "=", ""), {{"team", ""}}));
}

TEST(AlertingMatcher, MatchesAllIsAConjunction) {
  const Labels labels{{"severity", "critical"}, {"team", "payments"}};
  EXPECT_TRUE(alerting::matches_all({}, labels));
  EXPECT_TRUE(alerting::matches_all({}, {}));
  const std::vector<alerting::Matcher> both{alerting::make_matcher("severity", "=", "critical"),
                                            alerting::make_matcher("team", "=~", "pay.*")};
  EXPECT_TRUE(alerting::matches_all(both, labels));
  EXPECT_FALSE(alerting::matches_all(both, {{"severity", "critical"}, {"team", "billing"}}));
  EXPECT_FALSE(alerting::matches_all(both, {{"team", "payments"}}));
}

TEST(AlertingMatcher, HandBuiltMatcherCompilesItsRegex) {
  const alerting::Matcher by_hand{"team", MatchOp::kRegexMatch, "pay.*", std::nullopt};
  EXPECT_TRUE(alerting::matches(by_hand, {{"team", "payments"}}));
  EXPECT_FALSE(alerting::matches(by_hand, {{"team", "billing"}}));
  const alerting::Matcher broken{"team", MatchOp::kRegexNoMatch, "(", std::nullopt};
  EXPECT_EQ(caught([&] { alerting::matches(broken, {}); }).sqlstate(), sqlstate::kInvalidMatcher);
}

TEST(AlertingMatcher, LongValuesAndDeepRegexesDoNotExhaustTheStack) {
  // A recursive matcher would need a stack frame per character here.
  const std::string long_value = "x" + std::string(300'000, 'y');
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("v", "=~", "x.*"), {{"v", long_value}}));
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("v", "=~", "(x|y)*"), {{"v", long_value}}));
  EXPECT_FALSE(alerting::matches(alerting::make_matcher("v", "=~", "y.*"), {{"v", long_value}}));
  // The longest regex allowed, nested as deep as its length permits, still compiles.
  const std::string deepest = std::string(511, '(') + "ab" + std::string(511, ')');
  ASSERT_EQ(deepest.size(), 1024U);
  EXPECT_TRUE(alerting::matches(alerting::make_matcher("v", "=~", deepest), {{"v", "ab"}}));
}

TEST(AlertingMatcher, RefusesBadMatchers) {
  struct Case {
    std::string name;
    std::string op;
    std::string value;
    std::string field;  // what the message must start with
  };
  const Case cases[] = {
      {"", "=", "critical", "matcher name: "},
      {"", "=~", "(", "matcher name: "},  // the name is checked first
      {"severity", "==", "critical", "matcher op: "},
      {"severity", "~=", "critical", "matcher op: "},
      {"severity", "", "critical", "matcher op: "},
      {"severity", "=~", "(", "matcher value: "},
      {"severity", "!~", "[a-", "matcher value: "},
      {"severity", "=~", "*crit", "matcher value: "},
      // Backreferences would need a backtracking matcher; Alertmanager's RE2 refuses them too.
      {"severity", "=~", "(a)\\1", "matcher value: "},
      {"severity", "=~", std::string(1025, 'a'), "matcher value: "},
      {"severity", "=~", "(a{1000}){1000}", "matcher value: "},
  };
  for (const auto& c : cases) {
    const auto violation = caught([&] { alerting::make_matcher(c.name, c.op, c.value); });
    EXPECT_EQ(violation.sqlstate(), sqlstate::kInvalidMatcher) << c.name << c.op << c.value;
    EXPECT_EQ(std::string(violation.what()).rfind(c.field, 0), 0U) << violation.what();
    EXPECT_FALSE(violation.hint().empty());
  }
  const auto long_regex =
      caught([] { alerting::make_matcher("team", "=~", std::string(2000, 'a')); });
  EXPECT_NE(std::string(long_regex.what()).find("2000 bytes"), std::string::npos)
      << long_regex.what();
  const auto bad_op = caught([] { alerting::make_matcher("team", "=>", "x"); });
  EXPECT_NE(std::string(bad_op.what()).find("=, !=, =~, !~"), std::string::npos) << bad_op.what();
}

TEST(AlertingMatcher, OperatorsRoundTrip) {
  for (const char* op : {"=", "!=", "=~", "!~"}) {
    EXPECT_EQ(alerting::to_string(alerting::make_matcher("a", op, "b").op), op);
  }
}

TEST(AlertingFingerprint, KnownValues) {
  // No labels: the FNV-1a offset basis.
  EXPECT_EQ(alerting::fingerprint({}), "cbf29ce484222325");
  // {a="b"} hashes the bytes 61 ff 62 ff. Starting from the basis, each byte is xored in and
  // the hash multiplied by the FNV prime 0x100000001b3 modulo 2^64:
  //   61 -> af63dc4c8601ec8c (FNV-1a of "a", the published test vector)
  //   ff -> 089bc907b544c769
  //   62 -> e57da31903de37b1
  //   ff -> d2b371819297f98a
  EXPECT_EQ(alerting::fingerprint({{"a", "b"}}), "d2b371819297f98a");
  // Prometheus' own test of LabelsToSignature expects 5799056148416392346 for this set.
  EXPECT_EQ(alerting::fingerprint({{"name", "garland, briggs"}, {"fear", "love is not enough"}}),
            "507a62d79ee76c9a");
}

TEST(AlertingFingerprint, InsertionOrderDoesNotMatter) {
  Labels forward;
  forward["alertname"] = "HighLatency";
  forward["severity"] = "critical";
  forward["team"] = "payments";
  Labels backward;
  backward.emplace("team", "payments");
  backward.emplace("severity", "critical");
  backward.emplace("alertname", "HighLatency");
  EXPECT_EQ(alerting::fingerprint(forward), alerting::fingerprint(backward));
  EXPECT_EQ(alerting::fingerprint(forward), "c73c345b272fd938");
}

TEST(AlertingFingerprint, SeparatorsKeepLabelSetsApart) {
  EXPECT_NE(alerting::fingerprint({{"a", "bc"}}), alerting::fingerprint({{"ab", "c"}}));
  EXPECT_NE(alerting::fingerprint({{"a", "b"}}), alerting::fingerprint({{"a", "b"}, {"c", ""}}));
  EXPECT_NE(alerting::fingerprint({{"a", ""}}), alerting::fingerprint({}));
  for (const auto& labels : {Labels{}, Labels{{"x", "1"}}, Labels{{"\xff", "\x01"}}}) {
    const std::string print = alerting::fingerprint(labels);
    ASSERT_EQ(print.size(), 16U);
    EXPECT_EQ(print.find_first_not_of("0123456789abcdef"), std::string::npos) << print;
  }
}

TEST(AlertingState, NamesRoundTrip) {
  const std::pair<AlertState, std::string> states[] = {{AlertState::kInactive, "inactive"},
                                                       {AlertState::kPending, "pending"},
                                                       {AlertState::kFiring, "firing"},
                                                       {AlertState::kResolved, "resolved"}};
  for (const auto& [state, name] : states) {
    EXPECT_EQ(alerting::parse_alert_state(name), state);
    EXPECT_EQ(alerting::to_string(state), name);
  }
  for (const char* name : {"Firing", "fired", "", "ok"}) {
    const auto violation = caught([&] { alerting::parse_alert_state(name); });
    EXPECT_EQ(violation.sqlstate(), sqlstate::kUnknownAlertState) << name;
    EXPECT_NE(std::string(violation.what()).find("inactive, pending, firing, resolved"),
              std::string::npos);
    EXPECT_FALSE(violation.hint().empty());
  }
}

TEST(AlertingState, TimingRefusesNegativeDurations) {
  const auto timing = alerting::make_timing(minutes(5), microseconds(0));
  EXPECT_EQ(timing.for_duration, minutes(5));
  EXPECT_EQ(timing.keep_firing_for, microseconds(0));
  const auto negative_for = caught([] { alerting::make_timing(microseconds(-1), minutes(1)); });
  EXPECT_EQ(negative_for.sqlstate(), sqlstate::kNegativeDuration);
  EXPECT_EQ(std::string(negative_for.what()).rfind("for: ", 0), 0U) << negative_for.what();
  EXPECT_FALSE(negative_for.hint().empty());
  const auto negative_keep = caught([] { alerting::make_timing(minutes(1), -minutes(1)); });
  EXPECT_EQ(negative_keep.sqlstate(), sqlstate::kNegativeDuration);
  EXPECT_EQ(std::string(negative_keep.what()).rfind("keep_firing_for: ", 0), 0U)
      << negative_keep.what();
}

TEST(AlertingState, PendingThenFiringThenResolved) {
  const auto timing = alerting::make_timing(minutes(5), microseconds(0));
  const auto steps =
      run({{0, true, 120}, {1, true, 130}, {5, true, 140}, {6, true, 150}, {7, false, 10}}, timing);

  EXPECT_EQ(steps[0].transition, AlertState::kPending);
  AlertRecord expected;
  expected.state = AlertState::kPending;
  expected.active_since = at_minute(0);
  expected.last_true_at = at_minute(0);
  expected.last_evaluated_at = at_minute(0);
  expected.value = 120;
  expect_same_record(steps[0].next, expected);

  EXPECT_FALSE(steps[1].transition);  // one minute of five
  EXPECT_EQ(steps[1].next.state, AlertState::kPending);
  EXPECT_EQ(steps[1].next.active_since, at_minute(0));
  EXPECT_EQ(steps[1].next.value, 130);

  EXPECT_EQ(steps[2].transition, AlertState::kFiring);  // exactly five minutes is enough
  expected.state = AlertState::kFiring;
  expected.firing_since = at_minute(5);
  expected.last_true_at = at_minute(5);
  expected.last_evaluated_at = at_minute(5);
  expected.value = 140;
  expect_same_record(steps[2].next, expected);

  EXPECT_FALSE(steps[3].transition);
  EXPECT_EQ(steps[3].next.firing_since, at_minute(5));

  EXPECT_EQ(steps[4].transition, AlertState::kResolved);
  expected.state = AlertState::kResolved;
  expected.last_true_at = at_minute(6);
  expected.resolved_at = at_minute(7);
  expected.last_evaluated_at = at_minute(7);
  expected.value = 150;  // the value while it fired, not the one that cleared it
  expect_same_record(steps[4].next, expected);
}

TEST(AlertingState, ZeroForFiresAtOnce) {
  const auto steps = run({{0, true, 1}, {1, true, 2}}, alerting::RuleTiming{});
  EXPECT_EQ(steps[0].transition, AlertState::kFiring);
  EXPECT_EQ(steps[0].next.state, AlertState::kFiring);
  EXPECT_EQ(steps[0].next.active_since, at_minute(0));
  EXPECT_EQ(steps[0].next.firing_since, at_minute(0));
  EXPECT_FALSE(steps[1].transition);
  EXPECT_EQ(steps[1].next.firing_since, at_minute(0));
}

TEST(AlertingState, FlappingInsideKeepFiringForStaysFiring) {
  const auto timing = alerting::make_timing(microseconds(0), minutes(10));
  const auto steps = run({{0, true, 1},
                          {2, false, 0},
                          {4, true, 1},
                          {6, false, 0},
                          {13, false, 0},
                          {14, false, 0},
                          {15, false, 0}},
                         timing);
  EXPECT_EQ(steps[0].transition, AlertState::kFiring);
  for (std::size_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(steps[i].next.state, AlertState::kFiring) << i;
    EXPECT_FALSE(steps[i].transition) << i;
    EXPECT_EQ(steps[i].next.firing_since, at_minute(0)) << i;
    EXPECT_FALSE(steps[i].next.resolved_at) << i;
  }
  EXPECT_EQ(steps[4].next.last_true_at, at_minute(4));    // 9 minutes ago at minute 13
  EXPECT_EQ(steps[5].transition, AlertState::kResolved);  // 10 minutes: no longer kept
  EXPECT_EQ(steps[5].next.resolved_at, at_minute(14));
  EXPECT_FALSE(steps[6].transition);
  EXPECT_EQ(steps[6].next.resolved_at, at_minute(14));
}

TEST(AlertingState, ZeroKeepFiringForResolvesOnTheFirstClearEvaluation) {
  const auto steps = run({{0, true, 1}, {1, false, 0}}, alerting::RuleTiming{});
  EXPECT_EQ(steps[1].transition, AlertState::kResolved);
  EXPECT_EQ(steps[1].next.resolved_at, at_minute(1));
}

TEST(AlertingState, PendingThatClearsReturnsToInactive) {
  const auto timing = alerting::make_timing(minutes(5), microseconds(0));
  const auto steps =
      run({{0, true, 1}, {3, false, 0}, {4, true, 1}, {8, true, 1}, {9, true, 1}}, timing);
  EXPECT_EQ(steps[1].transition, AlertState::kInactive);
  EXPECT_EQ(steps[1].next.state, AlertState::kInactive);
  EXPECT_FALSE(steps[1].next.active_since);
  EXPECT_FALSE(steps[1].next.firing_since);
  EXPECT_FALSE(steps[1].next.resolved_at);
  // The clock starts over: minute 8 is five minutes after minute 0 but only four after 4.
  EXPECT_EQ(steps[2].transition, AlertState::kPending);
  EXPECT_EQ(steps[2].next.active_since, at_minute(4));
  EXPECT_FALSE(steps[3].transition);
  EXPECT_EQ(steps[4].transition, AlertState::kFiring);
  EXPECT_EQ(steps[4].next.firing_since, at_minute(9));
}

TEST(AlertingState, ClearInactiveOrResolvedAlertStaysPut) {
  const auto inactive = run({{0, false, 0}}, alerting::RuleTiming{});
  EXPECT_FALSE(inactive[0].transition);
  EXPECT_EQ(inactive[0].next.state, AlertState::kInactive);
  EXPECT_EQ(inactive[0].next.last_evaluated_at, at_minute(0));
  EXPECT_FALSE(inactive[0].next.last_true_at);

  const auto resolved = run({{0, true, 1}, {1, false, 0}, {2, false, 0}}, alerting::RuleTiming{});
  EXPECT_FALSE(resolved[2].transition);
  EXPECT_EQ(resolved[2].next.resolved_at, at_minute(1));
  EXPECT_EQ(resolved[2].next.last_evaluated_at, at_minute(2));
}

TEST(AlertingState, ResolvedAlertThatFiresAgainStartsANewEpisode) {
  const auto timing = alerting::make_timing(minutes(5), microseconds(0));
  const auto steps =
      run({{0, true, 1}, {5, true, 2}, {6, false, 0}, {20, true, 3}, {25, true, 4}}, timing);
  ASSERT_EQ(steps[2].next.state, AlertState::kResolved);
  EXPECT_EQ(steps[3].transition, AlertState::kPending);
  EXPECT_EQ(steps[3].next.active_since, at_minute(20));
  EXPECT_FALSE(steps[3].next.firing_since);
  EXPECT_FALSE(steps[3].next.resolved_at);
  EXPECT_EQ(steps[3].next.value, 3);
  EXPECT_EQ(steps[4].transition, AlertState::kFiring);
  EXPECT_EQ(steps[4].next.firing_since, at_minute(25));
}

TEST(AlertingState, SameOrEarlierInstantChangesNothing) {
  const auto timing = alerting::make_timing(minutes(5), microseconds(0));
  const auto steps = run({{0, true, 1}, {5, true, 2}}, timing);
  const AlertRecord firing = steps[1].next;
  ASSERT_EQ(firing.state, AlertState::kFiring);

  for (const int minute : {5, 4, 0, -60}) {
    for (const bool condition : {true, false}) {
      const auto again = alerting::evaluate(firing, condition, 99, at_minute(minute), timing);
      EXPECT_FALSE(again.transition) << minute << condition;
      expect_same_record(again.next, firing);
    }
  }
  // Also while pending: a repeated evaluation cannot complete the for duration.
  const AlertRecord pending = steps[0].next;
  const auto repeated = alerting::evaluate(pending, true, 1, at_minute(0), timing);
  EXPECT_FALSE(repeated.transition);
  expect_same_record(repeated.next, pending);
  // One microsecond later is a new evaluation.
  const auto later = alerting::evaluate(firing, false, 0, at_minute(5) + microseconds(1), timing);
  EXPECT_EQ(later.transition, AlertState::kResolved);
}

TEST(AlertingState, InstantsFarApartDoNotOverflow) {
  AlertRecord pending;
  pending.state = AlertState::kPending;
  pending.active_since = Instant(microseconds(std::numeric_limits<std::int64_t>::min() + 1));
  const Instant far_future{microseconds(std::numeric_limits<std::int64_t>::max())};
  const auto step = alerting::evaluate(pending, true, 1, far_future,
                                       alerting::make_timing(microseconds(1), microseconds(0)));
  EXPECT_EQ(step.transition, AlertState::kFiring);
}

TEST(AlertingTemplate, RendersValueAndLabels) {
  const Labels labels{{"instance", "api-1"}, {"job", "expense_api"}};
  EXPECT_EQ(
      alerting::render_template("{{ $labels.instance }} latency is {{ $value }}s", 0.25, labels),
      "api-1 latency is 0.25s");
  EXPECT_EQ(alerting::render_template("{{$labels.job}}/{{$value}}", 3, labels), "expense_api/3");
  EXPECT_EQ(alerting::render_template("[{{   $value \t}}]", -1.5, labels), "[-1.5]");
  EXPECT_EQ(alerting::render_template("{{ $value }}{{ $value }}", 0.1, labels), "0.10.1");
  EXPECT_EQ(alerting::render_template("{{ $value }}", 1e21, labels), "1e+21");
  EXPECT_EQ(alerting::render_template("{{ $value }}", 0.1 + 0.2, labels), "0.30000000000000004");
}

TEST(AlertingTemplate, CopiesLiteralText) {
  EXPECT_EQ(alerting::render_template("", 1, {}), "");
  EXPECT_EQ(alerting::render_template("no actions at all", 1, {}), "no actions at all");
  EXPECT_EQ(alerting::render_template("a { b } c {x} $value $labels.x", 1, {}),
            "a { b } c {x} $value $labels.x");
  EXPECT_EQ(alerting::render_template("{{ $value }}}", 7, {}), "7}");
}

TEST(AlertingTemplate, MissingLabelRendersNoValue) {
  EXPECT_EQ(alerting::render_template("team {{ $labels.team }}", 1, {{"severity", "high"}}),
            "team <no value>");
  EXPECT_EQ(alerting::render_template("[{{ $labels.team }}]", 1, {{"team", ""}}), "[]");
  EXPECT_EQ(alerting::render_template("{{ $labels._under_1 }}", 1, {{"_under_1", "ok"}}), "ok");
}

TEST(AlertingTemplate, RefusesWhatItCannotParseAndSaysWhere) {
  struct Case {
    std::string text;
    std::string problem;  // what the message must say
  };
  const Case cases[] = {
      {"latency {{ $value", "the \"{{\" at byte 8 is never closed"},
      {"{{", "the \"{{\" at byte 0 is never closed"},
      {"done }} here", "stray \"}}\" at byte 5"},
      {"{{ $value }} and }}", "stray \"}}\" at byte 17"},
      {"{{ $value }}}}", "stray \"}}\" at byte 12"},
      {"x {{ $val }}", "unsupported action \"{{ $val }}\" at byte 2"},
      {"{{ .Value }}", "unsupported action \"{{ .Value }}\" at byte 0"},
      {"{{}}", "unsupported action \"{{}}\" at byte 0"},
      {"{{ $labels }}", "unsupported action"},
      {"{{ $labels. }}", "unsupported action"},
      {"{{ $labels.1x }}", "unsupported action"},
      {"{{ $labels.a-b }}", "unsupported action"},
      {"{{ $labels.a b }}", "unsupported action"},
      {"{{ $value | humanize }}", "unsupported action"},
      {"{{ $Value }}", "unsupported action"},
      {"{{\n$value }}", "unsupported action"},
      {"{{{ $value }}", "unsupported action \"{{{ $value }}\" at byte 0"},
  };
  for (const auto& c : cases) {
    const auto checked = caught([&] { alerting::check_template(c.text); });
    EXPECT_EQ(checked.sqlstate(), sqlstate::kTemplateUnparseable) << c.text;
    EXPECT_EQ(std::string(checked.what()).rfind("template: ", 0), 0U) << checked.what();
    EXPECT_NE(std::string(checked.what()).find(c.problem), std::string::npos)
        << checked.what() << " should say " << c.problem;
    EXPECT_NE(checked.hint().find("{{ $labels.NAME }}"), std::string::npos);
    const auto rendered = caught([&] { alerting::render_template(c.text, 1, {}); });
    EXPECT_EQ(rendered.sqlstate(), sqlstate::kTemplateUnparseable) << c.text;
    EXPECT_STREQ(rendered.what(), checked.what());
  }
}

TEST(AlertingTemplate, CheckAcceptsWhatRenders) {
  for (const char* text :
       {"", "plain", "{{ $value }}", "{{$labels.a}} {{ $labels.B_2 }}", "{ single } braces"}) {
    EXPECT_NO_THROW(alerting::check_template(text)) << text;
  }
}

TEST(AlertingRetry, DoublesFromBaseUpToCap) {
  const microseconds base = seconds(1);
  const microseconds cap = seconds(60);
  // With no jitter the delay is half the exponential one.
  EXPECT_EQ(alerting::retry_delay(1, base, cap, 0), milliseconds(500));
  EXPECT_EQ(alerting::retry_delay(2, base, cap, 0), seconds(1));
  EXPECT_EQ(alerting::retry_delay(3, base, cap, 0), seconds(2));
  EXPECT_EQ(alerting::retry_delay(6, base, cap, 0), seconds(16));
  EXPECT_EQ(alerting::retry_delay(7, base, cap, 0), seconds(30));  // 64 s capped at 60
  // The jitter spreads over the other half.
  EXPECT_EQ(alerting::retry_delay(1, base, cap, 0.5), milliseconds(750));
  EXPECT_EQ(alerting::retry_delay(3, base, cap, 0.25), milliseconds(2500));
  EXPECT_EQ(alerting::retry_delay(7, base, cap, 0.5), seconds(45));
  // An odd delay keeps its extra microsecond on the jittered side.
  EXPECT_EQ(alerting::retry_delay(1, microseconds(3), cap, 0), microseconds(1));
  EXPECT_EQ(alerting::retry_delay(1, microseconds(3), cap, 0.99), microseconds(2));
  // A cap below the base caps the first attempt too; a zero base never waits.
  EXPECT_EQ(alerting::retry_delay(1, seconds(10), seconds(4), 0), seconds(2));
  EXPECT_EQ(alerting::retry_delay(5, microseconds(0), cap, 0.9), microseconds(0));
}

TEST(AlertingRetry, LargeAttemptsStayAtTheCap) {
  const microseconds cap = minutes(15);
  for (const int attempt : {20, 40, 62, 63, 64, 65, 1000, INT_MAX}) {
    EXPECT_EQ(alerting::retry_delay(attempt, seconds(1), cap, 0), cap / 2) << attempt;
  }
  const microseconds most = microseconds::max();
  const double almost_one = std::nextafter(1.0, 0.0);
  EXPECT_LE(alerting::retry_delay(INT_MAX, most, most, almost_one), most);
  EXPECT_GE(alerting::retry_delay(INT_MAX, most, most, 0), most / 2);
  EXPECT_EQ(alerting::retry_delay(1, most, most, 0), most / 2);
}

TEST(AlertingRetry, StaysWithinHalfAndWholeAndNeverShrinks) {
  const microseconds base = milliseconds(250);
  const microseconds cap = minutes(5);
  for (const double jitter : {0.0, 0.3, 0.75, std::nextafter(1.0, 0.0)}) {
    microseconds previous{0};
    for (int attempt = 1; attempt <= 80; ++attempt) {
      const microseconds delay = alerting::retry_delay(attempt, base, cap, jitter);
      const int shift = std::min(attempt - 1, 30);
      const microseconds exponential = std::min(cap, base * (std::int64_t{1} << shift));
      EXPECT_GE(delay, exponential / 2) << attempt << " " << jitter;
      EXPECT_LE(delay, exponential) << attempt << " " << jitter;
      EXPECT_GE(delay, previous) << attempt << " " << jitter;
      previous = delay;
    }
  }
}

TEST(AlertingRetry, RefusesBadArguments) {
  const microseconds base = seconds(1);
  const microseconds cap = seconds(60);
  for (const int attempt : {0, -1, INT_MIN}) {
    const auto violation = caught([&] { alerting::retry_delay(attempt, base, cap, 0.5); });
    EXPECT_EQ(violation.sqlstate(), sqlstate::kInvalidParameterValue);
    EXPECT_EQ(std::string(violation.what()).rfind("attempt: ", 0), 0U) << violation.what();
    EXPECT_FALSE(violation.hint().empty());
  }
  for (const double jitter :
       {-0.01, 1.0, 1.5, std::nan(""), std::numeric_limits<double>::infinity()}) {
    const auto violation = caught([&] { alerting::retry_delay(1, base, cap, jitter); });
    EXPECT_EQ(violation.sqlstate(), sqlstate::kInvalidParameterValue) << jitter;
    EXPECT_EQ(std::string(violation.what()).rfind("jitter_unit: ", 0), 0U) << violation.what();
  }
  const auto negative_base = caught([&] { alerting::retry_delay(1, -base, cap, 0); });
  EXPECT_EQ(negative_base.sqlstate(), sqlstate::kNegativeDuration);
  EXPECT_EQ(std::string(negative_base.what()).rfind("base: ", 0), 0U) << negative_base.what();
  const auto negative_cap = caught([&] { alerting::retry_delay(1, base, -cap, 0); });
  EXPECT_EQ(negative_cap.sqlstate(), sqlstate::kNegativeDuration);
  EXPECT_EQ(std::string(negative_cap.what()).rfind("cap: ", 0), 0U) << negative_cap.what();
}
