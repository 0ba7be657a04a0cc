// The expense workflow:
//
//   draft -> submitted -> approved -> reimbursed
//                 \-> rejected -> draft
//
// Who may move an expense, and where to: approval by the owner's manager, finance or an admin,
// never by the owner; above the organisation's threshold a second approval, by finance and by
// someone else; rejection with a reason; reimbursement by finance only, and never of one's own.
#pragma once

#include <string>
#include <string_view>

namespace expense_ops::core::workflow {

enum class Action { kSubmit, kApprove, kReject, kReimburse, kReopen };

Action parse_action(std::string_view name);

struct Actor {
  std::string role;  // application role: employee, manager, finance, support, admin
  bool is_owner = false;
  bool manages_owner = false;
};

struct ExpenseState {
  std::string status;                 // draft, submitted, approved, reimbursed, rejected
  bool above_threshold = false;       // base amount above the org's second-approval threshold
  bool first_approval_given = false;  // submitted and already approved once
  bool actor_gave_first_approval = false;
};

struct Step {
  std::string next_status;
  bool records_first_approval = false;  // an approval that leaves the expense submitted
};

// The step `actor` takes with `action`, or a RuleViolation: PT409 (HTTP 409) for a move the
// status does not allow, naming the allowed ones; 42501 (403) for a move the actor may not
// make; 22X32 for a rejection without a reason.
Step decide(Action action, const Actor& actor, const ExpenseState& expense,
            std::string_view reason = {});

}  // namespace expense_ops::core::workflow
