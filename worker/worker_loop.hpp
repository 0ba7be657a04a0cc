// The worker's main loop: stay connected (reconnecting with capped backoff) and run the periodic
// jobs on one connection, each on its own interval, until asked to stop:
//   - the heartbeat, ops.record_worker_heartbeat(), every heartbeat-interval;
//   - ops.refresh_sla_transitions(), every sla-refresh-interval.
// One thread and one connection: the jobs are short, and taking turns keeps the worker to a
// single session however many jobs it has.
#pragma once

#include "worker/config.hpp"
#include "worker/heartbeat.hpp"
#include "worker/shutdown.hpp"

namespace expense_ops::worker {

// Runs until SIGTERM or SIGINT. A database that goes away is waited for, never a reason to exit;
// nor is a server that cannot take writes (a standby): it is refused at connect time and retried
// with the same backoff, in case of a failover. A job that fails is logged and retried at its
// next interval without holding up the others. Throws ConfigError when libpq refuses an option
// value of the DSN or the PG* environment, which no retry can fix.
void run_worker_loop(const WorkerConfig& config, const WorkerIdentity& identity,
                     ShutdownSignal& shutdown);

}  // namespace expense_ops::worker
