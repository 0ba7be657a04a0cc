// The worker's HTTP endpoint (issue 11, section 7): /metrics, Prometheus' text format, served by
// prometheus-cpp's Exposer, and /healthz on the same civetweb server, answered by a request
// callback before the Exposer's handlers see it: 200 and {"status":"ok",...} while the worker
// is live (worker/liveness.hpp), 503 otherwise. Loopback by default (listen-address).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "worker/liveness.hpp"

namespace prometheus {
class Exposer;
}

namespace expense_ops::worker {

class StatusServer {
 public:
  // Listens on `address` (host:port; port 0 picks a free one). Throws std::runtime_error when
  // it cannot. One per process.
  StatusServer(const std::string& address, const Liveness& liveness);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  int port() const;

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace expense_ops::worker
