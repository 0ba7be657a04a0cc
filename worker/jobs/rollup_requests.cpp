// Builds the per-minute request rollups of every complete minute with new requests
// (ops.rollup_requests, extension/sql/monitoring.sql).
#include "worker/sql_function_job.hpp"

namespace expense_ops::worker {

namespace {

const JobRegistration kRegistration{sql_function_job(
    "rollup-requests", 30,
    "seconds between calls of ops.rollup_requests(), which builds the per-minute request rollups",
    {"ops.rollup_requests", "ops.rollup_requests(timestamptz)",
     "SELECT minutes, rollup_rows FROM ops.rollup_requests()", "rollup_requests", "0.6.0"})};

}  // namespace

}  // namespace expense_ops::worker
