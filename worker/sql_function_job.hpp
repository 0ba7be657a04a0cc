// A job that calls one function of the extension and logs what it returned: the SLA refresh, the
// request rollup, alert evaluation, partition upkeep, statement samples.
//
// A worker may be newer than the extension it talks to. Until ALTER EXTENSION expense_ops
// UPDATE adds the function, the job warns once and then asks the catalog instead of calling:
// to_regprocedure() answers NULL where a call would put an ERROR in the server log every
// interval. Once the function is there, the job resumes without a restart.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "worker/job.hpp"
#include "worker/schedule.hpp"

namespace expense_ops::worker {

struct SqlFunctionCall {
  std::string function;   // "ops.rollup_requests", named in log lines
  std::string signature;  // "ops.rollup_requests(timestamptz)", for to_regprocedure()
  std::string query;      // what a run executes, in one transaction; one row
  std::string event;      // "rollup_requests": the log line of each run
  std::string since;      // the extension version that brought the function ("0.6.0")
  // Optional: a channel whose NOTIFY runs the job at once, and the query such a run executes
  // with the notifications' payloads as $1 (text[]), such as the metrics to evaluate.
  std::string listen = {};
  std::string notified_query = {};
};

// The registration of a job that is one such call: most of a file under worker/jobs/.
JobSpec sql_function_job(std::string name, double default_interval_seconds, std::string help,
                         SqlFunctionCall call);

class SqlFunctionJob : public Job {
 public:
  SqlFunctionJob(SqlFunctionCall call, Seconds interval);
  ~SqlFunctionJob() override;
  void run(pqxx::connection& connection) override;
  bool wait_for_work(pqxx::connection& connection, StopSource& stop, Seconds timeout) override;
  void connection_closing() noexcept override;

 private:
  class Listener;
  bool function_exists(pqxx::connection& connection) const;
  void call(pqxx::connection& connection, const std::string& query,
            const std::vector<std::string>& payloads);

  SqlFunctionCall call_;
  std::unique_ptr<Listener> listener_;  // bound to the current connection
  std::set<std::string> payloads_;      // the NOTIFYs not yet acted on (job thread only)
  Seconds interval_;
  SteadyTime last_run_{};
  SteadyTime last_full_run_{};
  bool function_present_ = true;  // assumed until a call finds it missing
  bool warned_missing_ = false;   // once per process, not once per reconnection
};

}  // namespace expense_ops::worker
