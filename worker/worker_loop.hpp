// The worker's main loop: every registered job (worker/jobs/, worker/job.hpp) runs on a thread
// and a connection of its own, each on its interval (worker/job_runner.hpp), until SIGTERM or
// SIGINT. A slow job (a rollup over a busy day, a check that times out) never delays another,
// least of all the heartbeat that api.health() watches.
#pragma once

#include <functional>

#include "worker/config.hpp"
#include "worker/heartbeat.hpp"
#include "worker/shutdown.hpp"

namespace expense_ops::worker {

// Runs until SIGTERM or SIGINT, and returns once every job thread has finished its run. A
// database that goes away is waited for, never a reason to exit; nor is a server that cannot
// take writes (a standby), in case of a failover. Throws ConfigError when libpq refuses an option
// value of the DSN or the PG* environment, which no retry can fix.
//
// It serves /metrics and /healthz on the configuration's listen-address (worker/status_server.hpp),
// and on SIGHUP calls `reread` for the configuration again: the jobs take what they can use at
// once (Job::reload), the log level changes, and what needs a restart is logged. A
// configuration that does not parse leaves the one in force (reload_failed).
void run_worker_loop(const WorkerConfig& config, const WorkerIdentity& identity,
                     ShutdownSignal& shutdown, const std::function<WorkerConfig()>& reread);

}  // namespace expense_ops::worker
