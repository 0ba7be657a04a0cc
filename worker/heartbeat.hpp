// The worker's main loop: stay connected (reconnecting with capped backoff), and record a
// heartbeat every interval until asked to stop.
#pragma once

#include <string>

#include "worker/config.hpp"
#include "worker/shutdown.hpp"

namespace expense_ops::worker {

struct WorkerIdentity {
  std::string worker_id;
  std::string host;
  int pid = 0;
  std::string version;
  std::string started_at;  // ISO 8601, UTC
};

std::string host_name();

WorkerIdentity current_identity(const WorkerConfig& config);

// Runs until SIGTERM or SIGINT. A database that goes away is waited for, never a reason to exit.
void run_heartbeat_loop(const WorkerConfig& config, const WorkerIdentity& identity,
                        ShutdownSignal& shutdown);

}  // namespace expense_ops::worker
