// Samples pg_stat_statements into ops.statement_samples, from which the slow-statement
// metrics take differences (ops.sample_statements, extension/sql/objectives.sql).
#include "worker/sql_function_job.hpp"

namespace expense_ops::worker {

namespace {

const JobRegistration kRegistration{sql_function_job(
    "sample-statements", 60,
    "seconds between samples of pg_stat_statements, calls of ops.sample_statements()",
    {"ops.sample_statements", "ops.sample_statements(timestamptz)",
     "SELECT ops.sample_statements() AS statements", "sample_statements", "0.6.0"})};

}  // namespace

}  // namespace expense_ops::worker
