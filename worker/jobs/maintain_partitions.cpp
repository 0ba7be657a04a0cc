// Makes the monitoring tables' partitions ahead of time and drops those past retention
// (ops.maintain_partitions, extension/sql/monitoring.sql). Idempotent.
#include "worker/sql_function_job.hpp"

namespace expense_ops::worker {

namespace {

const JobRegistration kRegistration{
    sql_function_job("maintain-partitions", 3600,
                     "seconds between calls of ops.maintain_partitions(), which makes partitions "
                     "ahead and drops those past retention",
                     {"ops.maintain_partitions", "ops.maintain_partitions(timestamptz)",
                      "SELECT count(*) FILTER (WHERE action = 'created') AS created, count(*) "
                      "FILTER (WHERE action = 'dropped') AS dropped FROM ops.maintain_partitions()",
                      "maintain_partitions", "0.6.0"})};

}  // namespace

}  // namespace expense_ops::worker
