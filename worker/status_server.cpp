#include "worker/status_server.hpp"

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

#include "worker/metrics.hpp"

namespace expense_ops::worker {

namespace {

// civetweb's callback has no room for a pointer of ours: the one server's liveness is here.
std::atomic<const Liveness*> served_liveness{nullptr};

int answer_healthz(mg_connection* connection) {
  const mg_request_info* request = mg_get_request_info(connection);
  if (request == nullptr || request->local_uri == nullptr ||
      std::strcmp(request->local_uri, "/healthz") != 0) {
    return 0;  // not ours: prometheus-cpp's handlers answer /metrics, civetweb the rest
  }
  const Liveness* liveness = served_liveness.load();
  if (liveness == nullptr) {
    return 0;
  }
  const Liveness::Verdict verdict = liveness->verdict(SteadyClock::now());
  const std::string body = core::json::dump(verdict.detail) + "\n";
  const int status = verdict.live ? 200 : 503;
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            status, verdict.live ? "OK" : "Service Unavailable", body.size());
  if (std::strcmp(request->request_method, "HEAD") != 0) {
    mg_write(connection, body.data(), body.size());
  }
  return status;
}

}  // namespace

StatusServer::StatusServer(const std::string& address, const Liveness& liveness) {
  served_liveness = &liveness;
  CivetCallbacks callbacks;
  callbacks.begin_request = answer_healthz;
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2, &callbacks);
  } catch (const std::exception& error) {
    served_liveness = nullptr;
    throw std::runtime_error("cannot listen on " + address +
                             " for /metrics and /healthz: " + error.what());
  }
  exposer_->RegisterCollectable(metrics::registry());
}

StatusServer::~StatusServer() {
  exposer_.reset();  // the server's threads end first
  served_liveness = nullptr;
}

int StatusServer::port() const {
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace expense_ops::worker
