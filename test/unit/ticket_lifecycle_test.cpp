#include "core/ticket_lifecycle.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "caught.hpp"

namespace tk = expense_ops::core::tickets;
using expense_ops::core::RuleViolation;
using expense_ops::test::caught;

namespace {

using Strings = std::vector<std::string>;
using Edges = std::set<std::pair<std::string, std::string>>;

const tk::Kind kAllKinds[] = {tk::Kind::kIncident, tk::Kind::kBug, tk::Kind::kFeature,
                              tk::Kind::kSupport, tk::Kind::kSecurity};

Strings strings(const std::vector<std::string_view>& views) {
  return Strings(views.begin(), views.end());
}

// The SQLSTATE a transition raises, or "ok".
std::string transition_outcome(tk::Kind kind, std::string_view from, std::string_view to) {
  try {
    tk::check_transition(kind, from, to);
    return "ok";
  } catch (const RuleViolation& violation) {
    return violation.sqlstate();
  }
}

// Written out independently of the implementation's tables: the lifecycles of the ticket spec.
Edges legal_moves(tk::Kind kind) {
  switch (kind) {
    case tk::Kind::kBug:
      return {{"Reported", "Triage"},     {"Triage", "Assigned"},      {"Assigned", "In Progress"},
              {"In Progress", "Testing"}, {"Testing", "Resolved"},     {"Resolved", "Deployed"},
              {"Testing", "In Progress"}, {"Resolved", "In Progress"}, {"Triage", "Won't fix"},
              {"Triage", "Duplicate"}};
    case tk::Kind::kFeature:
      return {{"Request", "Review"},  {"Review", "Prioritize"},  {"Prioritize", "Plan"},
              {"Plan", "Develop"},    {"Develop", "Test"},       {"Test", "Deploy"},
              {"Review", "Declined"}, {"Prioritize", "Declined"}};
    case tk::Kind::kSecurity:
      return {{"Identify", "Contain"},   {"Contain", "Assess"},  {"Assess", "Remediate"},
              {"Remediate", "Document"}, {"Document", "Notify"}, {"Notify", "Prevent"}};
    case tk::Kind::kIncident:
      return {{"Investigating", "Mitigated"},
              {"Mitigated", "Root-caused"},
              {"Root-caused", "Fixed"},
              {"Fixed", "Post-mortem done"},
              {"Post-mortem done", "Closed"}};
    case tk::Kind::kSupport:
      return {{"New", "Open"},
              {"Open", "Waiting on customer"},
              {"Waiting on customer", "Resolved"},
              {"Resolved", "Closed"},
              {"Waiting on customer", "Open"},
              {"Resolved", "Open"}};
  }
  return {};
}

}  // namespace

// ---- kinds and priorities ---------------------------------------------------------------------

TEST(TicketLifecycle, ParsesKindsAndPrioritiesByTheirStoredNames) {
  EXPECT_EQ(tk::parse_kind("incident"), tk::Kind::kIncident);
  EXPECT_EQ(tk::parse_kind("bug"), tk::Kind::kBug);
  EXPECT_EQ(tk::parse_kind("feature"), tk::Kind::kFeature);
  EXPECT_EQ(tk::parse_kind("support"), tk::Kind::kSupport);
  EXPECT_EQ(tk::parse_kind("security"), tk::Kind::kSecurity);
  for (const auto kind : kAllKinds) {
    EXPECT_EQ(tk::parse_kind(tk::to_string(kind)), kind);
  }
  EXPECT_EQ(tk::parse_priority("P0"), tk::Priority::kP0);
  EXPECT_EQ(tk::parse_priority("P1"), tk::Priority::kP1);
  EXPECT_EQ(tk::parse_priority("P2"), tk::Priority::kP2);
  EXPECT_EQ(tk::parse_priority("P3"), tk::Priority::kP3);
  EXPECT_EQ(tk::to_string(tk::Priority::kP2), "P2");
  EXPECT_EQ(tk::to_string(tk::Phase::kResolved), "resolved");
}

TEST(TicketLifecycle, UnknownKindsListTheValidOnes) {
  for (const char* name : {"Bug", "BUG", "bugs", "", " bug", "task"}) {
    const auto violation = caught([&] { tk::parse_kind(name); });
    EXPECT_EQ(violation.sqlstate(), "22X50") << name;
  }
  const auto violation = caught([] { tk::parse_kind("task"); });
  EXPECT_STREQ(violation.what(),
               "kind: \"task\" is not a ticket kind; valid kinds: incident, bug, feature, support, "
               "security");
  EXPECT_EQ(violation.hint(), "Use one of the kinds exactly as written, in lowercase.");
}

TEST(TicketLifecycle, UnknownPrioritiesListTheValidOnes) {
  for (const char* name : {"p0", "P4", "P", "0", "", "P00", "high"}) {
    const auto violation = caught([&] { tk::parse_priority(name); });
    EXPECT_EQ(violation.sqlstate(), "22X51") << name;
  }
  const auto violation = caught([] { tk::parse_priority("p1"); });
  EXPECT_STREQ(violation.what(),
               "priority: \"p1\" is not a priority; valid priorities: P0, P1, P2, P3");
  EXPECT_EQ(violation.hint(), "Use P0 (most urgent) to P3 (least urgent), with a capital P.");
}

// ---- lifecycles --------------------------------------------------------------------------------

TEST(TicketLifecycle, InitialStates) {
  EXPECT_EQ(tk::initial_state(tk::Kind::kBug), "Reported");
  EXPECT_EQ(tk::initial_state(tk::Kind::kFeature), "Request");
  EXPECT_EQ(tk::initial_state(tk::Kind::kSecurity), "Identify");
  EXPECT_EQ(tk::initial_state(tk::Kind::kIncident), "Investigating");
  EXPECT_EQ(tk::initial_state(tk::Kind::kSupport), "New");
}

TEST(TicketLifecycle, AllStatesInOrderMainLineThenExits) {
  EXPECT_EQ(strings(tk::all_states(tk::Kind::kBug)),
            (Strings{"Reported", "Triage", "Assigned", "In Progress", "Testing", "Resolved",
                     "Deployed", "Won't fix", "Duplicate"}));
  EXPECT_EQ(strings(tk::all_states(tk::Kind::kFeature)),
            (Strings{"Request", "Review", "Prioritize", "Plan", "Develop", "Test", "Deploy",
                     "Declined"}));
  EXPECT_EQ(
      strings(tk::all_states(tk::Kind::kSecurity)),
      (Strings{"Identify", "Contain", "Assess", "Remediate", "Document", "Notify", "Prevent"}));
  EXPECT_EQ(strings(tk::all_states(tk::Kind::kIncident)),
            (Strings{"Investigating", "Mitigated", "Root-caused", "Fixed", "Post-mortem done",
                     "Closed"}));
  EXPECT_EQ(strings(tk::all_states(tk::Kind::kSupport)),
            (Strings{"New", "Open", "Waiting on customer", "Resolved", "Closed"}));
}

TEST(TicketLifecycle, AllowedNextIsInAStableOrderMainLineFirst) {
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kBug, "Reported")), (Strings{"Triage"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kBug, "Triage")),
            (Strings{"Assigned", "Won't fix", "Duplicate"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kBug, "Testing")),
            (Strings{"Resolved", "In Progress"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kBug, "Resolved")),
            (Strings{"Deployed", "In Progress"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kFeature, "Review")),
            (Strings{"Prioritize", "Declined"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kFeature, "Prioritize")),
            (Strings{"Plan", "Declined"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kSupport, "Waiting on customer")),
            (Strings{"Resolved", "Open"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kSupport, "Resolved")), (Strings{"Closed", "Open"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kIncident, "Fixed")), (Strings{"Post-mortem done"}));
  EXPECT_EQ(strings(tk::allowed_next(tk::Kind::kSecurity, "Notify")), (Strings{"Prevent"}));
}

TEST(TicketLifecycle, AllowedNextMatchesTheSpecForEveryState) {
  for (const auto kind : kAllKinds) {
    Edges listed;
    for (const auto from : tk::all_states(kind)) {
      for (const auto to : tk::allowed_next(kind, from)) {
        listed.emplace(std::string(from), std::string(to));
      }
    }
    EXPECT_EQ(listed, legal_moves(kind)) << tk::to_string(kind);
  }
}

TEST(TicketLifecycle, EveryLegalMoveIsAcceptedAndEveryOtherPairRejected) {
  int legal = 0;
  int rejected = 0;
  for (const auto kind : kAllKinds) {
    const Edges allowed = legal_moves(kind);
    for (const auto from : tk::all_states(kind)) {
      for (const auto to : tk::all_states(kind)) {
        const bool is_legal = allowed.count({std::string(from), std::string(to)}) == 1;
        EXPECT_EQ(transition_outcome(kind, from, to), is_legal ? "ok" : "22X53")
            << tk::to_string(kind) << ": " << from << " -> " << to;
        (is_legal ? legal : rejected)++;
      }
    }
  }
  EXPECT_EQ(legal, 10 + 8 + 6 + 5 + 6);
  EXPECT_EQ(rejected, 9 * 9 + 8 * 8 + 7 * 7 + 6 * 6 + 5 * 5 - legal);
}

TEST(TicketLifecycle, ASkippedStateIsRejectedWithTheAllowedOnesInTheHint) {
  const auto skip = caught([] { tk::check_transition(tk::Kind::kBug, "Reported", "Assigned"); });
  EXPECT_EQ(skip.sqlstate(), "22X53");
  EXPECT_STREQ(skip.what(),
               "state: a bug ticket cannot move from Reported to Assigned; the bug lifecycle does "
               "not allow that move");
  EXPECT_EQ(skip.hint(), "From Reported the allowed next states are: Triage.");

  const auto jump = caught([] { tk::check_transition(tk::Kind::kBug, "Triage", "Deployed"); });
  EXPECT_EQ(jump.sqlstate(), "22X53");
  EXPECT_EQ(jump.hint(),
            "From Triage the allowed next states are: Assigned, Won't fix, Duplicate.");

  const auto incident =
      caught([] { tk::check_transition(tk::Kind::kIncident, "Investigating", "Closed"); });
  EXPECT_EQ(incident.sqlstate(), "22X53");
  EXPECT_EQ(incident.hint(), "From Investigating the allowed next states are: Mitigated.");
}

TEST(TicketLifecycle, BackwardMovesOtherThanReopensAreRejected) {
  const auto back = caught([] { tk::check_transition(tk::Kind::kFeature, "Plan", "Review"); });
  EXPECT_EQ(back.sqlstate(), "22X53");
  EXPECT_STREQ(back.what(),
               "state: a feature ticket cannot move from Plan to Review; the feature lifecycle "
               "does not allow that move");
  EXPECT_EQ(back.hint(), "From Plan the allowed next states are: Develop.");

  EXPECT_EQ(transition_outcome(tk::Kind::kSecurity, "Remediate", "Assess"), "22X53");
  EXPECT_EQ(transition_outcome(tk::Kind::kIncident, "Fixed", "Mitigated"), "22X53");
  EXPECT_EQ(transition_outcome(tk::Kind::kBug, "Testing", "Assigned"), "22X53");
  EXPECT_EQ(transition_outcome(tk::Kind::kSupport, "Open", "New"), "22X53");
}

TEST(TicketLifecycle, AMoveToTheSameStateIsAnError) {
  const auto stay = caught([] { tk::check_transition(tk::Kind::kBug, "Triage", "Triage"); });
  EXPECT_EQ(stay.sqlstate(), "22X53");
  EXPECT_STREQ(stay.what(),
               "state: a bug ticket cannot move from Triage to Triage; it is already Triage");
  EXPECT_EQ(stay.hint(),
            "From Triage the allowed next states are: Assigned, Won't fix, Duplicate.");
  for (const auto kind : kAllKinds) {
    for (const auto state : tk::all_states(kind)) {
      EXPECT_EQ(transition_outcome(kind, state, state), "22X53") << state;
    }
  }
}

TEST(TicketLifecycle, FinalStatesHaveNoNextAndSaySo) {
  const std::map<tk::Kind, Strings> finals = {
      {tk::Kind::kBug, {"Deployed", "Won't fix", "Duplicate"}},
      {tk::Kind::kFeature, {"Deploy", "Declined"}},
      {tk::Kind::kSecurity, {"Prevent"}},
      {tk::Kind::kIncident, {"Closed"}},
      {tk::Kind::kSupport, {"Closed"}},
  };
  for (const auto kind : kAllKinds) {
    Strings terminal;
    for (const auto state : tk::all_states(kind)) {
      if (tk::is_terminal(kind, state)) {
        terminal.emplace_back(state);
        EXPECT_TRUE(tk::allowed_next(kind, state).empty()) << state;
      } else {
        EXPECT_FALSE(tk::allowed_next(kind, state).empty()) << state;
      }
    }
    EXPECT_EQ(terminal, finals.at(kind)) << tk::to_string(kind);
  }
  const auto reopen_deployed =
      caught([] { tk::check_transition(tk::Kind::kBug, "Deployed", "In Progress"); });
  EXPECT_EQ(reopen_deployed.sqlstate(), "22X53");
  EXPECT_EQ(reopen_deployed.hint(),
            "Deployed is a final state of the bug lifecycle: no move leaves it. Open a new ticket "
            "instead.");
  EXPECT_EQ(transition_outcome(tk::Kind::kSupport, "Closed", "Open"), "22X53");
  EXPECT_EQ(transition_outcome(tk::Kind::kFeature, "Declined", "Review"), "22X53");
}

TEST(TicketLifecycle, UnknownStatesListTheKindsValidStates) {
  const auto wrong_case = caught([] { tk::allowed_next(tk::Kind::kBug, "triage"); });
  EXPECT_EQ(wrong_case.sqlstate(), "22X52");
  EXPECT_STREQ(wrong_case.what(),
               "state: \"triage\" is not a bug state; valid states: Reported, Triage, Assigned, "
               "In Progress, Testing, Resolved, Deployed, Won't fix, Duplicate");
  EXPECT_EQ(wrong_case.hint(),
            "Use a state of the bug lifecycle exactly as written; case and spaces matter.");

  // Another kind's state is unknown too, on either side of a move.
  const auto other_kind = caught([] { tk::check_transition(tk::Kind::kSupport, "New", "Triage"); });
  EXPECT_EQ(other_kind.sqlstate(), "22X52");
  EXPECT_STREQ(other_kind.what(),
               "state: \"Triage\" is not a support state; valid states: New, Open, Waiting on "
               "customer, Resolved, Closed");
  EXPECT_EQ(transition_outcome(tk::Kind::kSupport, "Reported", "Open"), "22X52");
  EXPECT_EQ(transition_outcome(tk::Kind::kBug, "In progress", "Testing"), "22X52");
  EXPECT_EQ(transition_outcome(tk::Kind::kBug, "Won’t fix", "Triage"), "22X52");  // curly quote
  EXPECT_EQ(transition_outcome(tk::Kind::kIncident, "", "Mitigated"), "22X52");
  EXPECT_EQ(caught([] { tk::is_terminal(tk::Kind::kFeature, "Done"); }).sqlstate(), "22X52");
  EXPECT_EQ(caught([] { tk::phase(tk::Kind::kIncident, "Resolved"); }).sqlstate(), "22X52");
}

TEST(TicketLifecycle, ReopenPathsGoBackToOpen) {
  const auto bug = tk::check_transition(tk::Kind::kBug, "Resolved", "In Progress");
  EXPECT_EQ(bug.from_phase, tk::Phase::kResolved);
  EXPECT_EQ(bug.to_phase, tk::Phase::kOpen);
  EXPECT_TRUE(bug.reopens);
  EXPECT_FALSE(bug.closes);

  const auto support = tk::check_transition(tk::Kind::kSupport, "Resolved", "Open");
  EXPECT_TRUE(support.reopens);
  EXPECT_EQ(support.to_phase, tk::Phase::kOpen);

  // Open to open: the clock never stopped, so nothing is reopened.
  EXPECT_FALSE(tk::check_transition(tk::Kind::kBug, "Testing", "In Progress").reopens);
  EXPECT_FALSE(tk::check_transition(tk::Kind::kSupport, "Waiting on customer", "Open").reopens);
  // Resolved to resolved is no reopen either.
  EXPECT_FALSE(tk::check_transition(tk::Kind::kSecurity, "Remediate", "Document").reopens);
}

TEST(TicketLifecycle, PhasesOfEveryState) {
  using P = tk::Phase;
  const std::map<tk::Kind, std::vector<P>> expected = {
      {tk::Kind::kBug,
       {P::kOpen, P::kOpen, P::kOpen, P::kOpen, P::kOpen, P::kResolved, P::kClosed, P::kClosed,
        P::kClosed}},
      {tk::Kind::kFeature,
       {P::kOpen, P::kOpen, P::kOpen, P::kOpen, P::kOpen, P::kOpen, P::kClosed, P::kClosed}},
      {tk::Kind::kSecurity,
       {P::kOpen, P::kOpen, P::kOpen, P::kResolved, P::kResolved, P::kResolved, P::kClosed}},
      {tk::Kind::kIncident, {P::kOpen, P::kOpen, P::kOpen, P::kResolved, P::kResolved, P::kClosed}},
      {tk::Kind::kSupport, {P::kOpen, P::kOpen, P::kOpen, P::kResolved, P::kClosed}},
  };
  for (const auto kind : kAllKinds) {
    std::vector<P> phases;
    for (const auto state : tk::all_states(kind)) {
      phases.push_back(tk::phase(kind, state));
      // Closed and final are the same thing.
      EXPECT_EQ(tk::phase(kind, state) == P::kClosed, tk::is_terminal(kind, state)) << state;
    }
    EXPECT_EQ(phases, expected.at(kind)) << tk::to_string(kind);
  }
  EXPECT_EQ(tk::phase(tk::Kind::kSecurity, "Remediate"), P::kResolved);
  EXPECT_EQ(tk::phase(tk::Kind::kSecurity, "Assess"), P::kOpen);
  EXPECT_EQ(tk::phase(tk::Kind::kIncident, "Fixed"), P::kResolved);
  EXPECT_EQ(tk::phase(tk::Kind::kIncident, "Root-caused"), P::kOpen);
}

TEST(TicketLifecycle, ClosingMovesAndWhereTierActionsApply) {
  struct Case {
    const char* from;
    const char* to;
    tk::Kind kind;
    bool closes;
    bool requirements;
  };
  const Case cases[] = {
      {"Resolved", "Deployed", tk::Kind::kBug, true, true},
      {"Triage", "Won't fix", tk::Kind::kBug, true, false},
      {"Triage", "Duplicate", tk::Kind::kBug, true, false},
      {"Testing", "Resolved", tk::Kind::kBug, false, false},
      {"Test", "Deploy", tk::Kind::kFeature, true, false},
      {"Review", "Declined", tk::Kind::kFeature, true, false},
      {"Prioritize", "Declined", tk::Kind::kFeature, true, false},
      {"Notify", "Prevent", tk::Kind::kSecurity, true, true},
      {"Assess", "Remediate", tk::Kind::kSecurity, false, false},
      {"Post-mortem done", "Closed", tk::Kind::kIncident, true, true},
      {"Root-caused", "Fixed", tk::Kind::kIncident, false, false},
      {"Resolved", "Closed", tk::Kind::kSupport, true, true},
      {"New", "Open", tk::Kind::kSupport, false, false},
  };
  for (const auto& c : cases) {
    const auto move = tk::check_transition(c.kind, c.from, c.to);
    EXPECT_EQ(move.closes, c.closes) << c.from << " -> " << c.to;
    EXPECT_EQ(move.close_requirements_apply, c.requirements) << c.from << " -> " << c.to;
    EXPECT_EQ(move.to_phase == tk::Phase::kClosed, c.closes) << c.from << " -> " << c.to;
  }
}

// ---- tier actions ------------------------------------------------------------------------------

TEST(TicketLifecycle, P0CloseNeedsRootCauseAndPostmortem) {
  const auto nothing = caught([] { tk::check_close_requirements(tk::Priority::kP0, {}); });
  EXPECT_EQ(nothing.sqlstate(), "22X54");
  EXPECT_STREQ(nothing.what(),
               "closing a P0 ticket requires root_cause and postmortem_url; missing: root_cause, "
               "postmortem_url");
  EXPECT_EQ(nothing.hint(),
            "Set root_cause to what caused the problem and postmortem_url to the link of the "
            "post-mortem, then close the ticket again.");

  const auto no_link = caught([] {
    tk::check_close_requirements(tk::Priority::kP0, {true, false, true});
  });
  EXPECT_EQ(no_link.sqlstate(), "22X54");
  EXPECT_STREQ(
      no_link.what(),
      "closing a P0 ticket requires root_cause and postmortem_url; missing: postmortem_url");
  EXPECT_EQ(no_link.hint(),
            "Set postmortem_url to the link of the post-mortem, then close the ticket again.");

  const auto no_cause = caught([] {
    tk::check_close_requirements(tk::Priority::kP0, {false, true, false});
  });
  EXPECT_STREQ(no_cause.what(),
               "closing a P0 ticket requires root_cause and postmortem_url; missing: root_cause");
  EXPECT_EQ(no_cause.hint(),
            "Set root_cause to what caused the problem, then close the ticket again.");

  EXPECT_NO_THROW(tk::check_close_requirements(tk::Priority::kP0, {true, true, false}));
}

TEST(TicketLifecycle, P1CloseNeedsRootCause) {
  const auto no_cause = caught([] {
    tk::check_close_requirements(tk::Priority::kP1, {false, true, true});
  });
  EXPECT_EQ(no_cause.sqlstate(), "22X54");
  EXPECT_STREQ(no_cause.what(), "closing a P1 ticket requires root_cause; missing: root_cause");
  EXPECT_EQ(no_cause.hint(),
            "Set root_cause to what caused the problem, then close the ticket again.");
  EXPECT_NO_THROW(tk::check_close_requirements(tk::Priority::kP1, {true, false, false}));
}

TEST(TicketLifecycle, P2AndP3CloseNeedNothing) {
  EXPECT_NO_THROW(tk::check_close_requirements(tk::Priority::kP2, {}));
  EXPECT_NO_THROW(tk::check_close_requirements(tk::Priority::kP3, {}));
}

TEST(TicketLifecycle, CheckMoveAppliesTierActionsOnlyToRealCloses) {
  const tk::CloseEvidence none{};
  const auto bug = caught(
      [&] { tk::check_move(tk::Kind::kBug, tk::Priority::kP0, "Resolved", "Deployed", none); });
  EXPECT_EQ(bug.sqlstate(), "22X54");
  EXPECT_EQ(caught([&] {
              tk::check_move(tk::Kind::kIncident, tk::Priority::kP1, "Post-mortem done", "Closed",
                             none);
            }).sqlstate(),
            "22X54");
  EXPECT_TRUE(
      tk::check_move(tk::Kind::kBug, tk::Priority::kP0, "Triage", "Won't fix", none).closes);
  EXPECT_TRUE(tk::check_move(tk::Kind::kFeature, tk::Priority::kP0, "Test", "Deploy", none).closes);
  EXPECT_TRUE(
      tk::check_move(tk::Kind::kSupport, tk::Priority::kP2, "Resolved", "Closed", none).closes);
  EXPECT_TRUE(tk::check_move(tk::Kind::kSecurity, tk::Priority::kP0, "Notify", "Prevent",
                             {true, true, false})
                  .closes);
  // Non-closing moves need no evidence whatever the priority.
  EXPECT_FALSE(
      tk::check_move(tk::Kind::kIncident, tk::Priority::kP0, "Root-caused", "Fixed", none).closes);
  // The lifecycle is checked before the evidence.
  EXPECT_EQ(caught([&] {
              tk::check_move(tk::Kind::kBug, tk::Priority::kP0, "Testing", "Deployed", none);
            }).sqlstate(),
            "22X53");
}

// ---- what a move changes -----------------------------------------------------------------------

namespace {

const expense_ops::core::Instant kOpened{std::chrono::hours(24 * 20000)};
const expense_ops::core::Instant kNow = kOpened + std::chrono::hours(5);

tk::MoveRequest request(tk::Kind kind, std::string_view from, std::string_view to) {
  tk::MoveRequest move;
  move.kind = kind;
  move.priority = tk::Priority::kP2;
  move.from = from;
  move.to = to;
  move.at = kNow;
  return move;
}

}  // namespace

TEST(TicketMove, AFirstMoveAnswersTheTicket) {
  const auto effect = tk::apply_move(request(tk::Kind::kBug, "Reported", "Triage"));
  EXPECT_EQ(effect.to_phase, tk::Phase::kOpen);
  EXPECT_EQ(effect.times.first_response, kNow);
  EXPECT_EQ(effect.times.resolved, std::nullopt);
  EXPECT_EQ(effect.times.closed, std::nullopt);
  EXPECT_EQ(effect.pause, tk::PauseChange::kNone);

  // A response already given stays as it was.
  auto later = request(tk::Kind::kBug, "Triage", "Assigned");
  later.times.first_response = kOpened + std::chrono::minutes(3);
  EXPECT_EQ(tk::apply_move(later).times.first_response, kOpened + std::chrono::minutes(3));
}

TEST(TicketMove, ResolvingStopsTheResolutionClockOnce) {
  const auto resolved = tk::apply_move(request(tk::Kind::kSecurity, "Assess", "Remediate"));
  EXPECT_EQ(resolved.to_phase, tk::Phase::kResolved);
  EXPECT_EQ(resolved.times.resolved, kNow);
  EXPECT_EQ(resolved.times.closed, std::nullopt);

  // Moving on within the resolved phase keeps the first resolution.
  auto onwards = request(tk::Kind::kSecurity, "Remediate", "Document");
  onwards.times = {kOpened, kOpened + std::chrono::hours(1), std::nullopt};
  const auto documented = tk::apply_move(onwards);
  EXPECT_EQ(documented.to_phase, tk::Phase::kResolved);
  EXPECT_EQ(documented.times.resolved, kOpened + std::chrono::hours(1));
  EXPECT_EQ(documented.times.first_response, kOpened);
}

TEST(TicketMove, ClosingSetsClosedAndKeepsTheResolution) {
  auto close = request(tk::Kind::kSupport, "Resolved", "Closed");
  close.times = {kOpened, kOpened + std::chrono::hours(2), std::nullopt};
  const auto closed = tk::apply_move(close);
  EXPECT_EQ(closed.to_phase, tk::Phase::kClosed);
  EXPECT_EQ(closed.times.resolved, kOpened + std::chrono::hours(2));
  EXPECT_EQ(closed.times.closed, kNow);

  // A close straight from an open state resolves it at the same instant.
  const auto dismissed = tk::apply_move(request(tk::Kind::kBug, "Triage", "Won't fix"));
  EXPECT_EQ(dismissed.to_phase, tk::Phase::kClosed);
  EXPECT_EQ(dismissed.times.resolved, kNow);
  EXPECT_EQ(dismissed.times.closed, kNow);
}

TEST(TicketMove, AReopenClearsTheResolution) {
  auto reopen = request(tk::Kind::kBug, "Resolved", "In Progress");
  reopen.times = {kOpened, kOpened + std::chrono::hours(2), std::nullopt};
  const auto effect = tk::apply_move(reopen);
  EXPECT_EQ(effect.to_phase, tk::Phase::kOpen);
  EXPECT_EQ(effect.times.first_response, kOpened);
  EXPECT_EQ(effect.times.resolved, std::nullopt);
  EXPECT_EQ(effect.times.closed, std::nullopt);
}

TEST(TicketMove, PausesFollowThePausedStates) {
  auto wait = request(tk::Kind::kSupport, "Open", "Waiting on customer");
  wait.to_paused = true;
  EXPECT_EQ(tk::apply_move(wait).pause, tk::PauseChange::kStarts);

  auto reply = request(tk::Kind::kSupport, "Waiting on customer", "Open");
  reply.from_paused = true;
  EXPECT_EQ(tk::apply_move(reply).pause, tk::PauseChange::kEnds);

  // Leaving a paused state for the resolved phase resumes the clocks too.
  auto resolve = request(tk::Kind::kSupport, "Waiting on customer", "Resolved");
  resolve.from_paused = true;
  EXPECT_EQ(tk::apply_move(resolve).pause, tk::PauseChange::kEnds);

  // Between two paused states the pause runs on.
  auto both = request(tk::Kind::kSupport, "Waiting on customer", "Resolved");
  both.from_paused = both.to_paused = true;
  EXPECT_EQ(tk::apply_move(both).pause, tk::PauseChange::kNone);
}

TEST(TicketMove, RefusesWhatTheLifecycleRefusesAndChangesNothing) {
  EXPECT_EQ(
      caught([] { tk::apply_move(request(tk::Kind::kBug, "Reported", "Nowhere")); }).sqlstate(),
      "22X52");
  EXPECT_EQ(caught([] { tk::apply_move(request(tk::Kind::kBug, "Limbo", "Triage")); }).sqlstate(),
            "22X52");
  const auto skip = caught([] { tk::apply_move(request(tk::Kind::kBug, "Reported", "Assigned")); });
  EXPECT_EQ(skip.sqlstate(), "22X53");
  EXPECT_STREQ(skip.what(),
               "state: a bug ticket cannot move from Reported to Assigned; the bug lifecycle "
               "does not allow that move");
  const auto stay = caught([] { tk::apply_move(request(tk::Kind::kSupport, "Open", "Open")); });
  EXPECT_EQ(stay.sqlstate(), "22X53");
  EXPECT_STREQ(stay.what(),
               "state: a support ticket cannot move from Open to Open; it is already Open");
  EXPECT_EQ(
      caught([] { tk::apply_move(request(tk::Kind::kFeature, "Deploy", "Test")); }).sqlstate(),
      "22X53");
}

TEST(TicketMove, AClosureWithoutItsEvidenceIsRefused) {
  auto close = request(tk::Kind::kIncident, "Post-mortem done", "Closed");
  close.priority = tk::Priority::kP0;
  close.evidence = tk::close_evidence(std::nullopt, "a full disk", std::nullopt);
  const auto refused = caught([&] { tk::apply_move(close); });
  EXPECT_EQ(refused.sqlstate(), "22X54");
  EXPECT_STREQ(refused.what(),
               "closing a P0 ticket requires root_cause and postmortem_url; missing: "
               "postmortem_url");

  close.evidence = tk::close_evidence(std::nullopt, "a full disk", "https://example.com/pm/1");
  EXPECT_EQ(tk::apply_move(close).times.closed, kNow);
}

TEST(TicketMove, BlankTextIsNoEvidence) {
  const auto blank = tk::close_evidence(" \t", "\r\n ", "");
  EXPECT_FALSE(blank.has_workaround);
  EXPECT_FALSE(blank.has_root_cause);
  EXPECT_FALSE(blank.has_postmortem_link);
  const auto none = tk::close_evidence(std::nullopt, std::nullopt, std::nullopt);
  EXPECT_FALSE(none.has_workaround || none.has_root_cause || none.has_postmortem_link);
  const auto given = tk::close_evidence("restart it", " a leak ", "https://example.com/pm");
  EXPECT_TRUE(given.has_workaround);
  EXPECT_TRUE(given.has_root_cause);
  EXPECT_TRUE(given.has_postmortem_link);
}

TEST(TicketMove, ANewTicketOpensInItsInitialState) {
  EXPECT_EQ(tk::opening_state(tk::Kind::kBug, std::nullopt), "Reported");
  EXPECT_EQ(tk::opening_state(tk::Kind::kSupport, std::string_view("New")), "New");
  const auto later = caught([] { tk::opening_state(tk::Kind::kBug, std::string_view("Testing")); });
  EXPECT_EQ(later.sqlstate(), "22X53");
  EXPECT_STREQ(later.what(), "state: a new bug ticket starts in \"Reported\", not \"Testing\"");
  EXPECT_EQ(later.hint(), "Open it without a state, then move it along its lifecycle.");
  EXPECT_EQ(
      caught([] { tk::opening_state(tk::Kind::kBug, std::string_view("reported")); }).sqlstate(),
      "22X52");
}
