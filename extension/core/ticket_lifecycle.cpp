#include "core/ticket_lifecycle.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace expense_ops::core::tickets {

namespace {

using Names = std::vector<std::string_view>;

// One kind's lifecycle as data, so that the moves, the final states and the phases are all
// read from the same lists and cannot drift apart.
struct Lifecycle {
  std::string_view kind;
  Names main_line;  // the first is the initial state, the last is final
  Names exits;      // final states off the main line
  std::vector<std::pair<std::string_view, std::string_view>> extra_moves;  // in hint order
  Names resolved;  // states that stop the resolution clock without closing
};

const Lifecycle& lifecycle(Kind kind) {
  static const Lifecycle kBug{
      "bug",
      {"Reported", "Triage", "Assigned", "In Progress", "Testing", "Resolved", "Deployed"},
      {"Won't fix", "Duplicate"},
      {{"Testing", "In Progress"},
       {"Resolved", "In Progress"},
       {"Triage", "Won't fix"},
       {"Triage", "Duplicate"}},
      {"Resolved"}};
  static const Lifecycle kFeature{
      "feature",
      {"Request", "Review", "Prioritize", "Plan", "Develop", "Test", "Deploy"},
      {"Declined"},
      {{"Review", "Declined"}, {"Prioritize", "Declined"}},
      {}};
  static const Lifecycle kSecurity{
      "security",
      {"Identify", "Contain", "Assess", "Remediate", "Document", "Notify", "Prevent"},
      {},
      {},
      {"Remediate", "Document", "Notify"}};
  static const Lifecycle kIncident{
      "incident",
      {"Investigating", "Mitigated", "Root-caused", "Fixed", "Post-mortem done", "Closed"},
      {},
      {},
      {"Fixed", "Post-mortem done"}};
  static const Lifecycle kSupport{"support",
                                  {"New", "Open", "Waiting on customer", "Resolved", "Closed"},
                                  {},
                                  {{"Waiting on customer", "Open"}, {"Resolved", "Open"}},
                                  {"Resolved"}};
  switch (kind) {
    case Kind::kBug:
      return kBug;
    case Kind::kFeature:
      return kFeature;
    case Kind::kSecurity:
      return kSecurity;
    case Kind::kIncident:
      return kIncident;
    case Kind::kSupport:
      return kSupport;
  }
  throw RuleViolation(sqlstate::kInternalError, "unhandled ticket kind");
}

bool contains(const Names& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string join(const Names& names, std::string_view separator) {
  std::string out;
  for (const auto name : names) {
    if (!out.empty())
      out += separator;
    out += name;
  }
  return out;
}

Names states_of(const Lifecycle& life) {
  Names states = life.main_line;
  states.insert(states.end(), life.exits.begin(), life.exits.end());
  return states;
}

// Every lookup by state name goes through here, so an unknown state fails the same way
// everywhere: the stored strings are case- and space-sensitive, hence the full list.
void require_state(const Lifecycle& life, std::string_view state) {
  const Names states = states_of(life);
  if (contains(states, state))
    return;
  throw RuleViolation(sqlstate::kUnknownTicketState,
                      "state: \"" + std::string(state) + "\" is not a " + std::string(life.kind) +
                          " state; valid states: " + join(states, ", "),
                      "Use a state of the " + std::string(life.kind) +
                          " lifecycle exactly as written; case and spaces matter.");
}

Names next_states(const Lifecycle& life, std::string_view state) {
  Names next;
  const auto here = std::find(life.main_line.begin(), life.main_line.end(), state);
  if (here != life.main_line.end() && here + 1 != life.main_line.end()) {
    next.push_back(*(here + 1));
  }
  for (const auto& [from, to] : life.extra_moves) {
    if (from == state)
      next.push_back(to);
  }
  return next;
}

Phase phase_of(const Lifecycle& life, std::string_view state) {
  // Closed is derived from finality rather than listed, which keeps "every final state is
  // closed and every closed state final" true by construction.
  if (next_states(life, state).empty())
    return Phase::kClosed;
  if (contains(life.resolved, state))
    return Phase::kResolved;
  return Phase::kOpen;
}

// Enum and name in one table, so parsing and printing agree.
constexpr std::pair<Kind, std::string_view> kKindNames[] = {{Kind::kIncident, "incident"},
                                                            {Kind::kBug, "bug"},
                                                            {Kind::kFeature, "feature"},
                                                            {Kind::kSupport, "support"},
                                                            {Kind::kSecurity, "security"}};
constexpr std::pair<Priority, std::string_view> kPriorityNames[] = {
    {Priority::kP0, "P0"}, {Priority::kP1, "P1"}, {Priority::kP2, "P2"}, {Priority::kP3, "P3"}};

}  // namespace

Kind parse_kind(std::string_view name) {
  for (const auto& [kind, kind_name] : kKindNames) {
    if (name == kind_name)
      return kind;
  }
  throw RuleViolation(sqlstate::kUnknownTicketKind,
                      "kind: \"" + std::string(name) +
                          "\" is not a ticket kind; valid kinds: incident, bug, feature, support, "
                          "security",
                      "Use one of the kinds exactly as written, in lowercase.");
}

Priority parse_priority(std::string_view name) {
  for (const auto& [priority, priority_name] : kPriorityNames) {
    if (name == priority_name)
      return priority;
  }
  throw RuleViolation(
      sqlstate::kUnknownPriority,
      "priority: \"" + std::string(name) + "\" is not a priority; valid priorities: P0, P1, P2, P3",
      "Use P0 (most urgent) to P3 (least urgent), with a capital P.");
}

std::string_view to_string(Kind kind) {
  for (const auto& [candidate, name] : kKindNames) {
    if (candidate == kind)
      return name;
  }
  throw RuleViolation(sqlstate::kInternalError, "unhandled ticket kind");
}

std::string_view to_string(Priority priority) {
  for (const auto& [candidate, name] : kPriorityNames) {
    if (candidate == priority)
      return name;
  }
  throw RuleViolation(sqlstate::kInternalError, "unhandled ticket priority");
}

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::kOpen:
      return "open";
    case Phase::kResolved:
      return "resolved";
    case Phase::kClosed:
      return "closed";
  }
  throw RuleViolation(sqlstate::kInternalError, "unhandled ticket phase");
}

std::string_view initial_state(Kind kind) {
  return lifecycle(kind).main_line.front();
}

std::string_view opening_state(Kind kind, std::optional<std::string_view> requested) {
  const Lifecycle& life = lifecycle(kind);
  const std::string_view initial = life.main_line.front();
  if (!requested || *requested == initial)
    return initial;
  require_state(life, *requested);
  throw RuleViolation(sqlstate::kTicketTransition,
                      "state: a new " + std::string(life.kind) + " ticket starts in \"" +
                          std::string(initial) + "\", not \"" + std::string(*requested) + "\"",
                      "Open it without a state, then move it along its lifecycle.");
}

std::vector<std::string_view> all_states(Kind kind) {
  return states_of(lifecycle(kind));
}

std::vector<std::string_view> allowed_next(Kind kind, std::string_view state) {
  const Lifecycle& life = lifecycle(kind);
  require_state(life, state);
  return next_states(life, state);
}

bool is_terminal(Kind kind, std::string_view state) {
  return allowed_next(kind, state).empty();
}

Phase phase(Kind kind, std::string_view state) {
  const Lifecycle& life = lifecycle(kind);
  require_state(life, state);
  return phase_of(life, state);
}

Move check_transition(Kind kind, std::string_view from, std::string_view to) {
  const Lifecycle& life = lifecycle(kind);
  require_state(life, from);
  require_state(life, to);
  const Names next = next_states(life, from);
  if (to == from || !contains(next, to)) {
    const std::string move = "state: a " + std::string(life.kind) + " ticket cannot move from " +
                             std::string(from) + " to " + std::string(to);
    const std::string why =
        to == from ? "; it is already " + std::string(from)
                   : "; the " + std::string(life.kind) + " lifecycle does not allow that move";
    const std::string hint =
        next.empty() ? std::string(from) + " is a final state of the " + std::string(life.kind) +
                           " lifecycle: no move leaves it. Open a new ticket instead."
                     : "From " + std::string(from) +
                           " the allowed next states are: " + join(next, ", ") + ".";
    throw RuleViolation(sqlstate::kTicketTransition, move + why, hint);
  }

  Move result;
  result.from_phase = phase_of(life, from);
  result.to_phase = phase_of(life, to);
  result.closes = result.to_phase == Phase::kClosed;
  result.reopens = result.from_phase == Phase::kResolved && result.to_phase == Phase::kOpen;
  // Only the end of the main line is a close that fixed something; exits dismiss the ticket,
  // and a feature has no failure to explain (see the header).
  result.close_requirements_apply =
      result.closes && kind != Kind::kFeature && to == life.main_line.back();
  return result;
}

CloseEvidence close_evidence(const std::optional<std::string>& workaround,
                             const std::optional<std::string>& root_cause,
                             const std::optional<std::string>& postmortem_url) {
  const auto given = [](const std::optional<std::string>& text) {
    return text && text->find_first_not_of(" \t\r\n") != std::string::npos;
  };
  CloseEvidence evidence;
  evidence.has_workaround = given(workaround);
  evidence.has_root_cause = given(root_cause);
  evidence.has_postmortem_link = given(postmortem_url);
  return evidence;
}

void check_close_requirements(Priority priority, const CloseEvidence& evidence) {
  Names required;
  if (priority == Priority::kP0 || priority == Priority::kP1)
    required.push_back("root_cause");
  if (priority == Priority::kP0)
    required.push_back("postmortem_url");

  Names missing;
  Names how;
  if (contains(required, "root_cause") && !evidence.has_root_cause) {
    missing.push_back("root_cause");
    how.push_back("root_cause to what caused the problem");
  }
  if (contains(required, "postmortem_url") && !evidence.has_postmortem_link) {
    missing.push_back("postmortem_url");
    how.push_back("postmortem_url to the link of the post-mortem");
  }
  if (missing.empty())
    return;

  throw RuleViolation(sqlstate::kTicketCloseRequirements,
                      "closing a " + std::string(to_string(priority)) + " ticket requires " +
                          join(required, " and ") + "; missing: " + join(missing, ", "),
                      "Set " + join(how, " and ") + ", then close the ticket again.");
}

Move check_move(Kind kind, Priority priority, std::string_view from, std::string_view to,
                const CloseEvidence& evidence) {
  const Move move = check_transition(kind, from, to);
  if (move.close_requirements_apply)
    check_close_requirements(priority, evidence);
  return move;
}

MoveEffect apply_move(const MoveRequest& request) {
  const Move move =
      check_move(request.kind, request.priority, request.from, request.to, request.evidence);
  MoveEffect effect;
  effect.to_phase = move.to_phase;
  effect.times.first_response = request.times.first_response.value_or(request.at);
  if (move.to_phase != Phase::kOpen) {
    effect.times.resolved = request.times.resolved.value_or(request.at);
  }
  if (move.closes) {
    effect.times.closed = request.at;
  }
  if (request.to_paused && !request.from_paused) {
    effect.pause = PauseChange::kStarts;
  } else if (request.from_paused && !request.to_paused) {
    effect.pause = PauseChange::kEnds;
  }
  return effect;
}

}  // namespace expense_ops::core::tickets
