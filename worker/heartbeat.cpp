#include "worker/heartbeat.hpp"

#include <unistd.h>

#include <chrono>

#include "core/time.hpp"
#include "core/version.hpp"

namespace expense_ops::worker {

std::string host_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

WorkerIdentity current_identity(const WorkerConfig& config) {
  const auto now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  return WorkerIdentity{config.worker_id, host_name(), static_cast<int>(getpid()),
                        core::kLibraryVersion, core::format_iso8601(now)};
}

}  // namespace expense_ops::worker
