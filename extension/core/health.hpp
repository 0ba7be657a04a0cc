// Health evaluation: the facts are gathered by the caller (the extension reads them from the
// catalogs), and these functions decide the status against documented thresholds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/time.hpp"

namespace expense_ops::core::health {

// Ordered from best to worst, so the overall status is the maximum of its parts.
enum class Status { kOk, kDegraded, kDown };

std::string_view to_string(Status status);
Status worst(Status a, Status b);

// One threshold a fact crossed, reported so the reader knows why the status is not ok.
struct Finding {
  std::string check;
  Status status;
  std::string message;
};

// XIDs available before wraparound: 2^31. PostgreSQL stops assigning XIDs 3 million short of it.
inline constexpr double kXidWraparoundHorizon = 2147483648.0;

double xid_wraparound_percent(std::int64_t oldest_xid_age);

// ---- api.health() -------------------------------------------------------------------------

struct WorkerHeartbeat {
  std::string worker_id;
  std::string host;
  Instant last_seen;
  double interval_seconds = 10;
};

struct ServiceFacts {
  std::string installed_version;  // pg_extension.extversion
  std::string library_version;    // compiled into the loaded shared library
  Instant now;
  std::string database;
  bool in_recovery = false;
  std::int64_t oldest_xid_age = 0;  // age(datfrozenxid) of this database
  std::optional<WorkerHeartbeat> latest_heartbeat;
};

struct ServiceThresholds {
  // The worker counts as stale once this many of its own heartbeat intervals pass in silence.
  double missed_heartbeats = 3;
  double xid_degraded_percent = 50;
  double xid_down_percent = 95;
};

// The worker's own verdict: "ok", "stale" or "missing" (no heartbeat was ever recorded).
std::string_view worker_state(const ServiceFacts& facts, const ServiceThresholds& thresholds);

json::Value service_health(const ServiceFacts& facts, const ServiceThresholds& thresholds = {});

// ---- api.health_db() ----------------------------------------------------------------------

struct ReplicaFacts {
  std::string application_name;
  std::optional<std::string> client_addr;
  std::string state;
  std::string sync_state;
  std::optional<double> replay_lag_seconds;
  std::optional<std::int64_t> replay_lag_bytes;
};

struct DatabaseFacts {
  std::string server_version;
  std::int64_t server_version_num = 0;
  bool in_recovery = false;
  std::vector<ReplicaFacts> replicas;                    // on a primary
  std::optional<double> standby_replay_lag_seconds;      // on a standby
  std::optional<std::int64_t> standby_replay_lag_bytes;  // on a standby: received, not replayed
  std::int64_t connections_used = 0;                     // client backends
  std::int64_t max_connections = 0;
  std::int64_t reserved_connections = 0;              // superuser_reserved_connections
  std::optional<double> longest_transaction_seconds;  // other sessions' open transactions
  std::int64_t oldest_xid_age = 0;                    // max age(datfrozenxid), all databases
  std::string database;
  std::int64_t size_bytes = 0;
  std::int64_t blocks_hit = 0;
  std::int64_t blocks_read = 0;
  std::int64_t deadlocks = 0;
};

struct DatabaseThresholds {
  double connections_degraded_percent = 80;
  double connections_down_percent = 95;
  double long_transaction_degraded_seconds = 300;
  double xid_degraded_percent = 50;
  double xid_down_percent = 95;
  double replication_lag_degraded_seconds = 60;
  double cache_hit_ratio_degraded = 0.90;
  // Below this many block reads since the last stats reset the ratio says nothing yet.
  std::int64_t cache_min_blocks = 10000;
};

// Percent of the connection slots open to ordinary roles (max minus the superuser reserve).
double connections_percent(const DatabaseFacts& facts);
std::optional<double> cache_hit_ratio(const DatabaseFacts& facts);

std::vector<Finding> database_findings(const DatabaseFacts& facts,
                                       const DatabaseThresholds& thresholds = {});
json::Value database_health(const DatabaseFacts& facts, const DatabaseThresholds& thresholds = {});

}  // namespace expense_ops::core::health
