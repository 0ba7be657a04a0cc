// Support tickets: their kinds, priorities and lifecycles, and the evidence a close needs. The
// score that orders feature requests is core/prioritisation.
//
// Lifecycles. A ticket moves one state at a time along its kind's main line; the few extra
// moves are listed per kind. State names are stored in the database exactly as written here.
//
//   bug:      Reported -> Triage -> Assigned -> In Progress -> Testing -> Resolved -> Deployed
//             Testing -> In Progress (the fix failed its tests)
//             Resolved -> In Progress (reopened)
//             Triage -> Won't fix, Triage -> Duplicate (final exits)
//   feature:  Request -> Review -> Prioritize -> Plan -> Develop -> Test -> Deploy
//             Review -> Declined, Prioritize -> Declined (final exit)
//   security: Identify -> Contain -> Assess -> Remediate -> Document -> Notify -> Prevent
//   incident: Investigating -> Mitigated -> Root-caused -> Fixed -> Post-mortem done -> Closed
//   support:  New -> Open -> Waiting on customer -> Resolved -> Closed
//             Waiting on customer -> Open (the customer replied)
//             Resolved -> Open (reopened by the customer)
//
// A state is final (no move leaves it) exactly when it is the end of the main line or an exit.
//
// Phases drive the SLA clocks. Reaching a state means its step has been reached, so the
// resolution clock stops on entering the first "resolved" state and a ticket is closed on
// entering a "closed" state; a closed ticket's resolution clock is stopped too.
//
//   kind      resolved                         closed
//   bug       Resolved                         Deployed, Won't fix, Duplicate
//   feature   -                                Deploy, Declined
//   security  Remediate, Document, Notify      Prevent
//   incident  Fixed, Post-mortem done          Closed
//   support   Resolved                         Closed
//
// Every other state is open. A move from a resolved state back to an open one (a reopen)
// restarts the resolution clock. Every closed state is final and every final state is closed,
// so "closing" is simply a move into a closed state.
//
// Closing requirements by priority ("tier actions"): closing a P0 ticket requires a root cause
// and a post-mortem link, a P1 ticket a root cause; P2 and P3 need nothing. They apply when a
// bug, incident, security or support ticket is closed by getting to the end of its main line.
// They do not apply to the exits (Won't fix, Duplicate, Declined): such a ticket was dismissed,
// not fixed, so there is no cause of its own to record (a duplicate's lives on the original)
// and demanding one would only get placeholder text. They do not apply to features either: a
// delivered feature is not a failure, it has no root cause and no post-mortem.
//
// Errors (RuleViolation): 22X50 unknown kind, 22X51 unknown priority, 22X52 a state the kind
// does not have, 22X53 a move the lifecycle does not allow (skipping a state, going back, or
// staying put) and 22X54 a close without the evidence its priority requires.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"

namespace expense_ops::core::tickets {

enum class Kind { kIncident, kBug, kFeature, kSupport, kSecurity };
enum class Priority { kP0, kP1, kP2, kP3 };
enum class Phase { kOpen, kResolved, kClosed };

// Exact names only: "incident", "bug", "feature", "support", "security" and "P0".."P3"; case
// matters because these are the stored values. Otherwise 22X50 / 22X51 listing the valid ones.
Kind parse_kind(std::string_view name);
Priority parse_priority(std::string_view name);

std::string_view to_string(Kind kind);
std::string_view to_string(Priority priority);
std::string_view to_string(Phase phase);  // "open", "resolved", "closed"

// The views returned by the lifecycle functions point to static storage: they stay valid.

std::string_view initial_state(Kind kind);

// The state a new ticket opens in: the initial state, whether `requested` names it or is
// nullopt. Any other state is a RuleViolation: 22X52 when the kind does not have it, 22X53
// otherwise, since a ticket reaches its later states only by moving.
std::string_view opening_state(Kind kind, std::optional<std::string_view> requested);

// Every state of the kind: the main line in order, then the exits.
std::vector<std::string_view> all_states(Kind kind);

// The states a ticket may move to next: the main line's next state first, then the extra
// moves in the order the lifecycle above lists them. Empty for a final state. A state the
// kind does not have is 22X52.
std::vector<std::string_view> allowed_next(Kind kind, std::string_view state);

bool is_terminal(Kind kind, std::string_view state);  // 22X52 for a state the kind lacks
Phase phase(Kind kind, std::string_view state);       // 22X52 for a state the kind lacks

// What a legal move does to the SLA clocks and which checks it brings.
struct Move {
  Phase from_phase = Phase::kOpen;
  Phase to_phase = Phase::kOpen;
  bool closes = false;                    // into a closed state
  bool reopens = false;                   // from resolved back to open: resolution clock restarts
  bool close_requirements_apply = false;  // a close that check_close_requirements must pass
};

// The move from `from` to `to`, or a RuleViolation: 22X52 when either state is not one of the
// kind's, naming the valid states; 22X53 when the lifecycle does not allow the move (including
// a move to the same state), naming kind, from and to, with the allowed next states (or that
// `from` is final) in the hint.
Move check_transition(Kind kind, std::string_view from, std::string_view to);

// What the ticket carries when someone closes it.
struct CloseEvidence {
  bool has_root_cause = false;       // root_cause set
  bool has_postmortem_link = false;  // postmortem_url set
  bool has_workaround = false;       // workaround set; no priority requires it yet
};

// The evidence a ticket's three tier-action texts give. Blank text is no evidence: a root cause
// of "  " is not a root cause.
CloseEvidence close_evidence(const std::optional<std::string>& workaround,
                             const std::optional<std::string>& root_cause,
                             const std::optional<std::string>& postmortem_url);

// 22X54 when `priority` requires evidence the ticket lacks; the message lists what is missing,
// e.g. "closing a P0 ticket requires root_cause and postmortem_url; missing: postmortem_url".
void check_close_requirements(Priority priority, const CloseEvidence& evidence);

// check_transition, then check_close_requirements when the move is a close they apply to.
Move check_move(Kind kind, Priority priority, std::string_view from, std::string_view to,
                const CloseEvidence& evidence);

// A ticket's lifecycle timestamps; nullopt for none.
struct LifecycleTimes {
  std::optional<Instant> first_response;
  std::optional<Instant> resolved;
  std::optional<Instant> closed;
};

// What a move does to the pause of the SLA clocks.
enum class PauseChange { kNone, kStarts, kEnds };

// A ticket about to move from `from` to `to` at `at`.
struct MoveRequest {
  Kind kind = Kind::kSupport;
  Priority priority = Priority::kP3;
  std::string_view from;
  std::string_view to;
  CloseEvidence evidence;
  LifecycleTimes times;  // before the move
  // Whether `from` and `to` stop the clocks. Which states do is configuration (a deployment
  // may pause support tickets while they wait on the customer), so the caller looks them up.
  bool from_paused = false;
  bool to_paused = false;
  Instant at;
};

// What a legal move changes on the ticket.
struct MoveEffect {
  Phase to_phase = Phase::kOpen;
  LifecycleTimes times;  // after the move
  PauseChange pause = PauseChange::kNone;
};

// check_move's refusals, then the move's effect:
//   * any move answers the ticket: first_response is `at` unless it was already set;
//   * into an open state (a reopen included), resolved and closed are cleared, which restarts
//     the resolution clock;
//   * into a resolved or closed state, resolved keeps its instant or becomes `at`; closed is
//     `at` for a close and cleared otherwise;
//   * the clocks pause when the ticket enters a paused state from one that is not, and resume
//     when it leaves for one that is not; a move between two paused states changes nothing.
MoveEffect apply_move(const MoveRequest& request);

}  // namespace expense_ops::core::tickets
