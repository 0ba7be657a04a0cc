// Evaluates the alert rules and queues their notifications (ops.evaluate_alerts,
// extension/sql/alerting.sql). The function takes a lock, so two workers never double a transition.
// NOTIFY expense_ops_evaluate, with a metric as its payload, asks for those metrics' rules at once
// (ops.record_check_results when a check goes down or comes back, ops.page_tickets).
#include "worker/sql_function_job.hpp"

namespace expense_ops::worker {

namespace {

const JobRegistration kRegistration{sql_function_job(
    "evaluate-alerts", 15,
    "seconds between evaluations of the alert rules, calls of ops.evaluate_alerts()",
    {"ops.evaluate_alerts", "ops.evaluate_alerts(timestamptz,text[])",
     "SELECT transitions, notifications FROM ops.evaluate_alerts()", "evaluate_alerts", "0.6.0",
     // A check down or up again, a ticket that must page: evaluated at once, their metrics only.
     "expense_ops_evaluate",
     "SELECT transitions, notifications FROM ops.evaluate_alerts(now(), $1::text[])"})};

}  // namespace

}  // namespace expense_ops::worker
