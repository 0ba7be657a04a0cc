// Running one check against the network or the database (issue 11, section 2):
//   - http: libcurl, the method, headers and body of the check; TLS verification on, redirects
//     not followed, the check's timeout; the timing breakdown (DNS, connect, TLS, first byte,
//     total). A check with credentials logs in as the monitoring account first (or, for the
//     login route itself, sends them as its body).
//   - tcp: a connect, through libcurl too (its resolver honours the timeout).
//   - db: libpq connects with a DSN named in the worker's configuration, never the database's,
//     and runs SELECT 1.
//   - sql: the probe query as the worker, under statement_timeout; it must return true.
// Every failure is a result (down, or unknown when the worker lacks what the check names), never
// an exception; nothing secret reaches a result's detail.
#pragma once

#include <atomic>
#include <map>
#include <string>

#include "worker/check.hpp"

namespace expense_ops::worker {

struct ProbeContext {
  std::string base_url;                            // ops.monitoring_settings.base_url
  std::map<std::string, Credential> credentials;   // by name, from the configuration
  std::map<std::string, std::string> connections;  // db checks' DSNs, by name
  std::string worker_dsn;                          // sql probes run as the worker
  const std::atomic<bool>* stop = nullptr;         // an HTTP transfer ends early once set
};

// Call once, before any thread runs a check.
void init_probes();

CheckResult run_check(const CheckDefinition& check, const ProbeContext& context);

}  // namespace expense_ops::worker
