// A job that calls one function of the extension and logs what it returned: the SLA refresh, the
// request rollup, alert evaluation, partition upkeep, statement samples.
//
// A worker may be newer than the extension it talks to. Until ALTER EXTENSION expense_ops
// UPDATE adds the function, the job warns once and then asks the catalog instead of calling:
// to_regprocedure() answers NULL where a call would put an ERROR in the server log every
// interval. Once the function is there, the job resumes without a restart.
#pragma once

#include <string>

#include "worker/job.hpp"

namespace expense_ops::worker {

struct SqlFunctionCall {
  std::string function;   // "ops.rollup_requests", named in log lines
  std::string signature;  // "ops.rollup_requests(timestamptz)", for to_regprocedure()
  std::string query;      // what a run executes, in one transaction; one row
  std::string event;      // "rollup_requests": the log line of each run
  std::string since;      // the extension version that brought the function ("0.6.0")
};

// The registration of a job that is one such call: most of a file under worker/jobs/.
JobSpec sql_function_job(std::string name, double default_interval_seconds, std::string help,
                         SqlFunctionCall call);

class SqlFunctionJob : public Job {
 public:
  explicit SqlFunctionJob(SqlFunctionCall call) : call_(std::move(call)) {}
  void run(pqxx::connection& connection) override;

 private:
  bool function_exists(pqxx::connection& connection) const;

  SqlFunctionCall call_;
  bool function_present_ = true;  // assumed until a call finds it missing
  bool warned_missing_ = false;   // once per process, not once per reconnection
};

}  // namespace expense_ops::worker
