// Who this worker is, as recorded with each heartbeat in ops.worker_heartbeats.
#pragma once

#include <string>

#include "worker/config.hpp"

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

}  // namespace expense_ops::worker
