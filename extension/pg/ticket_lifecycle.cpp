// Ticket lifecycles and tier actions at the SQL boundary. The trigger ops.apply_ticket_rules()
// (extension/sql/tickets.sql) calls these; extension/core/ticket_lifecycle decides.
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

// ops.check_ticket_move(kind, priority, from_state, to_state, workaround, root_cause,
//                       postmortem_url) RETURNS text: the phase the move leads to
EXPENSE_OPS_FUNCTION(expense_ops_check_ticket_move) {
  const auto kind = kind_argument(fcinfo, 0);
  const auto priority = tickets::parse_priority(pg::text_argument(fcinfo, 1, "priority"));
  const std::string from = pg::text_argument(fcinfo, 2, "from_state");
  const std::string to = pg::text_argument(fcinfo, 3, "to_state");
  // Blank text is no evidence: a root cause of "  " is not a root cause.
  const auto given = [&](int index) {
    const auto value = pg::optional_text_argument(fcinfo, index);
    return value && value->find_first_not_of(" \t\r\n") != std::string::npos;
  };
  tickets::CloseEvidence evidence;
  evidence.has_workaround = given(4);
  evidence.has_root_cause = given(5);
  evidence.has_postmortem_link = given(6);
  const auto move = tickets::check_move(kind, priority, from, to, evidence);
  return text_result(tickets::to_string(move.to_phase));
}

// ops.check_priority(priority text) RETURNS text
EXPENSE_OPS_FUNCTION(expense_ops_check_priority) {
  return text_result(
      tickets::to_string(tickets::parse_priority(pg::text_argument(fcinfo, 0, "priority"))));
}
