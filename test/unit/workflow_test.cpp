#include "core/workflow.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace wf = expense_ops::core::workflow;
using expense_ops::core::RuleViolation;

namespace {

const wf::Actor kOwner{"employee", true, false};
const wf::Actor kManager{"manager", false, true};
const wf::Actor kOtherManager{"manager", false, false};
const wf::Actor kFinance{"finance", false, false};
const wf::Actor kAdmin{"admin", false, false};
const wf::Actor kSupport{"support", false, false};
const wf::Actor kColleague{"employee", false, false};

std::string outcome(wf::Action action, const wf::Actor& actor, const wf::ExpenseState& state,
                    std::string_view reason = "too expensive") {
  try {
    const auto step = wf::decide(action, actor, state, reason);
    return step.next_status + (step.records_first_approval ? " (first approval)" : "");
  } catch (const RuleViolation& violation) {
    return violation.sqlstate();
  }
}

}  // namespace

TEST(Workflow, TheHappyPath) {
  EXPECT_EQ(outcome(wf::Action::kSubmit, kOwner, {"draft"}), "submitted");
  EXPECT_EQ(outcome(wf::Action::kApprove, kManager, {"submitted"}), "approved");
  EXPECT_EQ(outcome(wf::Action::kReimburse, kFinance, {"approved"}), "reimbursed");
}

TEST(Workflow, RejectionAndReopening) {
  EXPECT_EQ(outcome(wf::Action::kReject, kManager, {"submitted"}), "rejected");
  EXPECT_EQ(outcome(wf::Action::kReject, kManager, {"submitted"}, "   "), "22X32");
  EXPECT_EQ(outcome(wf::Action::kReject, kManager, {"submitted"}, ""), "22X32");
  EXPECT_EQ(outcome(wf::Action::kReopen, kOwner, {"rejected"}), "draft");
  EXPECT_EQ(outcome(wf::Action::kReopen, kManager, {"rejected"}), "42501");
}

TEST(Workflow, NobodyApprovesTheirOwn) {
  wf::Actor owner_who_is_finance{"finance", true, false};
  EXPECT_EQ(outcome(wf::Action::kApprove, owner_who_is_finance, {"submitted"}), "42501");
  wf::Actor owner_who_is_admin{"admin", true, false};
  EXPECT_EQ(outcome(wf::Action::kApprove, owner_who_is_admin, {"submitted"}), "42501");
  EXPECT_EQ(outcome(wf::Action::kReject, owner_who_is_admin, {"submitted"}), "42501");
}

TEST(Workflow, WhoMayApprove) {
  EXPECT_EQ(outcome(wf::Action::kApprove, kFinance, {"submitted"}), "approved");
  EXPECT_EQ(outcome(wf::Action::kApprove, kAdmin, {"submitted"}), "approved");
  EXPECT_EQ(outcome(wf::Action::kApprove, kOtherManager, {"submitted"}), "42501");
  EXPECT_EQ(outcome(wf::Action::kApprove, kSupport, {"submitted"}), "42501");
  EXPECT_EQ(outcome(wf::Action::kApprove, kColleague, {"submitted"}), "42501");
}

TEST(Workflow, AboveTheThresholdFinanceGivesASecondApproval) {
  wf::ExpenseState big{"submitted", true, false, false};
  EXPECT_EQ(outcome(wf::Action::kApprove, kManager, big), "submitted (first approval)");
  big.first_approval_given = true;
  EXPECT_EQ(outcome(wf::Action::kApprove, kAdmin, big), "42501");
  EXPECT_EQ(outcome(wf::Action::kApprove, kFinance, big), "approved");
  big.actor_gave_first_approval = true;
  EXPECT_EQ(outcome(wf::Action::kApprove, kFinance, big), "42501");
}

TEST(Workflow, OnlyFinanceReimburses) {
  EXPECT_EQ(outcome(wf::Action::kReimburse, kAdmin, {"approved"}), "42501");
  EXPECT_EQ(outcome(wf::Action::kReimburse, kManager, {"approved"}), "42501");
}

TEST(Workflow, NobodyReimbursesTheirOwn) {
  const wf::Actor owner_who_is_finance{"finance", true, false};
  EXPECT_EQ(outcome(wf::Action::kReimburse, owner_who_is_finance, {"approved"}), "42501");
  EXPECT_EQ(outcome(wf::Action::kReimburse, kFinance, {"approved"}), "reimbursed");
  try {
    wf::decide(wf::Action::kReimburse, owner_who_is_finance, {"approved"});
    FAIL() << "a finance user reimbursed their own expense";
  } catch (const RuleViolation& violation) {
    EXPECT_EQ(violation.sqlstate(), "42501");
    EXPECT_STREQ(violation.what(), "nobody may reimburse their own expense");
    EXPECT_EQ(violation.hint(), "Ask someone else in finance.");
  }
}

TEST(Workflow, ReimbursingOnesOwnIsRefusedBeforeTheStatusIsLookedAt) {
  // As with approving: who may act is settled first, so the answer does not depend on the status.
  const wf::Actor owner_who_is_finance{"finance", true, false};
  for (const char* status : {"draft", "submitted", "rejected", "reimbursed"}) {
    EXPECT_EQ(outcome(wf::Action::kReimburse, owner_who_is_finance, {status}), "42501") << status;
  }
}

TEST(Workflow, AnOwnerOutsideFinanceHearsThatOnlyFinanceReimburses) {
  const wf::Actor owner_who_is_admin{"admin", true, false};
  try {
    wf::decide(wf::Action::kReimburse, owner_who_is_admin, {"approved"});
    FAIL() << "an admin reimbursed an expense";
  } catch (const RuleViolation& violation) {
    EXPECT_EQ(violation.sqlstate(), "42501");
    EXPECT_STREQ(violation.what(), "only finance reimburses expenses");
  }
}

TEST(Workflow, IllegalMovesNameTheAllowedOnes) {
  EXPECT_EQ(outcome(wf::Action::kApprove, kManager, {"draft"}), "PT409");
  EXPECT_EQ(outcome(wf::Action::kReimburse, kFinance, {"submitted"}), "PT409");
  EXPECT_EQ(outcome(wf::Action::kSubmit, kOwner, {"approved"}), "PT409");
  EXPECT_EQ(outcome(wf::Action::kSubmit, kOwner, {"reimbursed"}), "PT409");
  try {
    wf::decide(wf::Action::kReimburse, kFinance, {"submitted"});
    FAIL();
  } catch (const RuleViolation& violation) {
    EXPECT_STREQ(
        violation.what(),
        "status: cannot reimburse an expense that is submitted; only approved expenses can be");
    EXPECT_EQ(violation.hint(), "From submitted the allowed moves are: approve or reject.");
  }
  EXPECT_THROW(wf::parse_action("delete"), RuleViolation);
}
