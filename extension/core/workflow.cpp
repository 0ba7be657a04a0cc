#include "core/workflow.hpp"

#include <cctype>

#include "core/error.hpp"

namespace expense_ops::core::workflow {

namespace {

const char* allowed_moves(std::string_view status) {
  if (status == "draft")
    return "submit";
  if (status == "submitted")
    return "approve or reject";
  if (status == "approved")
    return "reimburse";
  if (status == "rejected")
    return "reopen";
  return "none: reimbursed is final";
}

[[noreturn]] void wrong_status(std::string_view verb, std::string_view status,
                               std::string_view needed) {
  throw RuleViolation(sqlstate::kWrongStatus,
                      "status: cannot " + std::string(verb) + " an expense that is " +
                          std::string(status) + "; only " + std::string(needed) +
                          " expenses can be",
                      std::string("From ") + std::string(status) +
                          " the allowed moves are: " + allowed_moves(status) + ".");
}

[[noreturn]] void forbidden(const std::string& message, const std::string& hint) {
  throw RuleViolation(sqlstate::kInsufficientPrivilege, message, hint);
}

// Approving and rejecting share their gatekeeping: never the owner, only the owner's manager,
// finance or an admin, and only a submitted expense.
void require_approver(const std::string& verb, const Actor& actor, const ExpenseState& expense) {
  if (actor.is_owner) {
    forbidden("nobody may " + verb + " their own expense", "Ask your manager or finance.");
  }
  if (!actor.manages_owner && actor.role != "finance" && actor.role != "admin") {
    forbidden("only the owner's manager, finance or an admin may " + verb + " an expense",
              "Ask the owner's manager or finance.");
  }
  if (expense.status != "submitted") {
    wrong_status(verb, expense.status, "submitted");
  }
}

}  // namespace

Action parse_action(std::string_view name) {
  if (name == "submit")
    return Action::kSubmit;
  if (name == "approve")
    return Action::kApprove;
  if (name == "reject")
    return Action::kReject;
  if (name == "reimburse")
    return Action::kReimburse;
  if (name == "reopen")
    return Action::kReopen;
  throw RuleViolation(sqlstate::kInvalidParameterValue,
                      "unknown workflow action \"" + std::string(name) + "\"",
                      "Use submit, approve, reject, reimburse or reopen.");
}

Step decide(Action action, const Actor& actor, const ExpenseState& expense,
            std::string_view reason) {
  switch (action) {
    case Action::kSubmit:
      if (!actor.is_owner) {
        forbidden("only the owner submits an expense", "Ask the owner to submit it.");
      }
      if (expense.status != "draft") {
        wrong_status("submit", expense.status, "draft");
      }
      return {"submitted", false};

    case Action::kApprove:
      require_approver("approve", actor, expense);
      if (!expense.above_threshold) {
        return {"approved", false};
      }
      if (!expense.first_approval_given) {
        return {"submitted", true};
      }
      if (actor.role != "finance") {
        forbidden("above the organisation's threshold the second approval is finance's",
                  "Ask someone in finance to give the second approval.");
      }
      if (expense.actor_gave_first_approval) {
        forbidden("the second approval must come from someone other than the first approver",
                  "Ask another person in finance.");
      }
      return {"approved", false};

    case Action::kReject:
      require_approver("reject", actor, expense);
      {
        bool blank = true;
        for (const char c : reason) {
          blank = blank && std::isspace(static_cast<unsigned char>(c));
        }
        if (blank) {
          throw RuleViolation(sqlstate::kRejectionWithoutReason,
                              "reason: a rejection needs a reason",
                              "Say what is wrong, so the owner can fix it.");
        }
      }
      return {"rejected", false};

    case Action::kReimburse:
      if (actor.role != "finance") {
        forbidden("only finance reimburses expenses", "Ask someone in finance.");
      }
      if (actor.is_owner) {
        forbidden("nobody may reimburse their own expense", "Ask someone else in finance.");
      }
      if (expense.status != "approved") {
        wrong_status("reimburse", expense.status, "approved");
      }
      return {"reimbursed", false};

    case Action::kReopen:
      if (!actor.is_owner) {
        forbidden("only the owner reopens a rejected expense", "Ask the owner.");
      }
      if (expense.status != "rejected") {
        wrong_status("reopen", expense.status, "rejected");
      }
      return {"draft", false};
  }
  throw RuleViolation(sqlstate::kInternalError, "unhandled workflow action");
}

}  // namespace expense_ops::core::workflow
