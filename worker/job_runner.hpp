// One job on a thread and a connection of its own (worker/job.hpp): stay connected,
// reconnecting with capped backoff and refusing standbys, and run the job on its interval until
// the stop. A run never overlaps the next: one that overruns its interval skips the runs it
// missed, and says how many, rather than queueing them.
#pragma once

#include "worker/config.hpp"
#include "worker/job.hpp"
#include "worker/liveness.hpp"
#include "worker/stop_source.hpp"

namespace expense_ops::worker {

struct JobRunnerOptions {
  Seconds interval;
  // Whether this runner reports the database's availability (connected, connect_failed,
  // standby_refused) at info and warn. One runner does, the heartbeat's; the others would only
  // repeat it, and say it at debug.
  bool reports_connection = false;
  Liveness* liveness = nullptr;  // told of each run and connection, for /healthz
};

// Returns when `stop` is requested. A database that goes away is waited for; so is a server that
// cannot take writes (a standby), in case of a failover. A run that fails is logged and retried
// at the next interval. Throws ConfigError when libpq refuses an option value of the DSN or the
// PG* environment, which no retry can fix.
void run_job_until_stopped(const JobSpec& spec, Job& job, const JobRunnerOptions& options,
                           const WorkerConfig& config, StopSource& stop);

}  // namespace expense_ops::worker
