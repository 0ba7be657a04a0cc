// Records the tickets' at_risk and breached transitions that have come due. The function takes
// its tickets FOR UPDATE SKIP LOCKED, so several workers may call it at once.
#include "worker/sql_function_job.hpp"

namespace expense_ops::worker {

namespace {

const JobRegistration kRegistration{
    sql_function_job("sla-refresh", 15,
                     "seconds between SLA refreshes, calls of ops.refresh_sla_transitions(); "
                     "at_risk and breached transitions are recorded at most this late",
                     {"ops.refresh_sla_transitions", "ops.refresh_sla_transitions()",
                      "SELECT ops.refresh_sla_transitions() AS tickets", "sla_refresh", "0.3.0"})};

}  // namespace

}  // namespace expense_ops::worker
