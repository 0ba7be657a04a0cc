// Ticket lifecycles, tier actions and what a move changes, at the SQL boundary. The trigger
// ops.apply_ticket_rules() (extension/sql/tickets.sql) calls these; extension/core/
// ticket_lifecycle decides.
#include "core/error.hpp"
#include "core/ticket_lifecycle.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"

namespace {

namespace core = expense_ops::core;
namespace pg = expense_ops::pg;
namespace tickets = expense_ops::core::tickets;

tickets::Kind kind_argument(FunctionCallInfo fcinfo, int index) {
  return tickets::parse_kind(pg::text_argument(fcinfo, index, "kind"));
}

Datum text_result(std::string_view value) {
  return pg::text_datum(std::string(value));
}

}  // namespace

// ops.ticket_initial_state(kind text) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_ticket_initial_state) {
  return text_result(tickets::initial_state(kind_argument(fcinfo, 0)));
}

// ops.ticket_opening_state(kind text, state text) RETURNS text; state may be NULL.
EXPENSE_OPS_FUNCTION(expense_ops_ticket_opening_state) {
  const auto kind = kind_argument(fcinfo, 0);
  const auto requested = pg::optional_text_argument(fcinfo, 1);
  return text_result(tickets::opening_state(
      kind, requested ? std::optional<std::string_view>(*requested) : std::nullopt));
}

// ops.ticket_states(kind text) RETURNS text[]
EXPENSE_OPS_FUNCTION(expense_ops_ticket_states) {
  return pg::text_array_datum(tickets::all_states(kind_argument(fcinfo, 0)));
}

// ops.ticket_next_states(kind text, state text) RETURNS text[]
EXPENSE_OPS_FUNCTION(expense_ops_ticket_next_states) {
  const auto kind = kind_argument(fcinfo, 0);
  return pg::text_array_datum(tickets::allowed_next(kind, pg::text_argument(fcinfo, 1, "state")));
}

// ops.ticket_phase(kind text, state text) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_ticket_phase) {
  const auto kind = kind_argument(fcinfo, 0);
  return text_result(
      tickets::to_string(tickets::phase(kind, pg::text_argument(fcinfo, 1, "state"))));
}

namespace {

tickets::CloseEvidence evidence_arguments(FunctionCallInfo fcinfo, int first) {
  return tickets::close_evidence(pg::optional_text_argument(fcinfo, first),
                                 pg::optional_text_argument(fcinfo, first + 1),
                                 pg::optional_text_argument(fcinfo, first + 2));
}

}  // namespace

// ops.check_ticket_move(kind, priority, from_state, to_state, workaround, root_cause,
//                       postmortem_url) RETURNS text: the phase the move leads to.
// Dropped in 0.5.0 for ops.ticket_move_effect; the symbol stays because the update scripts from
// 0.2.0 still create the function on the way there.
EXPENSE_OPS_FUNCTION(expense_ops_check_ticket_move) {
  const auto kind = kind_argument(fcinfo, 0);
  const auto priority = tickets::parse_priority(pg::text_argument(fcinfo, 1, "priority"));
  const std::string from = pg::text_argument(fcinfo, 2, "from_state");
  const std::string to = pg::text_argument(fcinfo, 3, "to_state");
  const auto move = tickets::check_move(kind, priority, from, to, evidence_arguments(fcinfo, 4));
  return text_result(tickets::to_string(move.to_phase));
}

// ops.ticket_move_effect(kind, priority, from_state, to_state, workaround, root_cause,
//     postmortem_url, first_response_at, resolved_at, closed_at, from_paused, to_paused, at,
//     OUT to_phase, OUT first_response_at, OUT resolved_at, OUT closed_at, OUT pause_starts,
//     OUT pause_ends): what moving the ticket changes, or the lifecycle's refusal.
EXPENSE_OPS_FUNCTION(expense_ops_ticket_move_effect) {
  tickets::MoveRequest request;
  request.kind = kind_argument(fcinfo, 0);
  request.priority = tickets::parse_priority(pg::text_argument(fcinfo, 1, "priority"));
  const std::string from = pg::text_argument(fcinfo, 2, "from_state");
  const std::string to = pg::text_argument(fcinfo, 3, "to_state");
  request.from = from;
  request.to = to;
  request.evidence = evidence_arguments(fcinfo, 4);
  request.times.first_response = pg::optional_timestamptz_argument(fcinfo, 7);
  request.times.resolved = pg::optional_timestamptz_argument(fcinfo, 8);
  request.times.closed = pg::optional_timestamptz_argument(fcinfo, 9);
  request.from_paused = pg::bool_argument(fcinfo, 10, "from_paused");
  request.to_paused = pg::bool_argument(fcinfo, 11, "to_paused");
  request.at = pg::timestamptz_argument(fcinfo, 12, "at");
  const tickets::MoveEffect effect = tickets::apply_move(request);

  const auto& times = effect.times;
  Datum values[6] = {pg::text_datum(std::string(tickets::to_string(effect.to_phase))),
                     pg::optional_timestamptz_datum(times.first_response),
                     pg::optional_timestamptz_datum(times.resolved),
                     pg::optional_timestamptz_datum(times.closed),
                     BoolGetDatum(effect.pause == tickets::PauseChange::kStarts),
                     BoolGetDatum(effect.pause == tickets::PauseChange::kEnds)};
  bool nulls[6] = {false, !times.first_response, !times.resolved, !times.closed, false, false};
  return pg::composite_datum(fcinfo, "ops.ticket_move_effect", values, nulls);
}

// ops.check_priority(priority text) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_check_priority) {
  return text_result(
      tickets::to_string(tickets::parse_priority(pg::text_argument(fcinfo, 0, "priority"))));
}
