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

// The state of a WAL receiver (pg_stat_wal_receiver.status) and of a WAL sender
// (pg_stat_replication.state) while WAL streams between them.
inline constexpr std::string_view kStreaming = "streaming";

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
  // On a standby, from the WAL receiver's shared memory, spelled as pg_stat_wal_receiver does:
  // nullopt when no receiver runs (pid 0); the primary's last message as now() - receipt time.
  std::optional<std::string> wal_receiver_status;
  std::optional<double> seconds_since_primary_message;
};

struct ServiceThresholds {
  // The worker counts as stale once this many of its own heartbeat intervals pass in silence.
  double missed_heartbeats = 3;
  double xid_degraded_percent = 50;
  double xid_down_percent = 95;
  // Primaries send a keepalive every wal_sender_timeout / 2, 30 s by default: two missed.
  double primary_silence_degraded_seconds = 60;
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

// The recovery objectives (ops.backup_status(), extension 0.8.0): what the detail reports of
// backups. Timestamps come as ISO 8601 text, as the database wrote them.
struct BackupFacts {
  std::optional<double> rpo_seconds;
  std::optional<std::string> restorable_at;
  std::optional<std::string> restorable_from;  // backup or archived_wal
  std::optional<std::string> last_backup_status;
  std::optional<std::string> last_restore_test_at;
  std::optional<std::string> last_restore_test_status;
  std::optional<double> last_rto_seconds;    // of the newest passing restore test
  std::optional<std::string> wal_archiving;  // off, ok or failing
};

struct DatabaseFacts {
  std::string server_version;
  std::int64_t server_version_num = 0;
  bool in_recovery = false;
  // On a primary. A replica counts as streaming in state kStreaming only.
  std::vector<ReplicaFacts> replicas;
  int expected_replicas = 0;  // a setting; 0 expects none
  // On a standby. wal_receiver_status is pg_stat_wal_receiver.status, nullopt without a receiver.
  std::optional<std::string> wal_receiver_status;
  std::optional<double> seconds_since_primary_message;       // now() - last_msg_receipt_time
  std::optional<std::int64_t> standby_replay_lag_bytes;      // received, not replayed
  bool wal_pending = false;                                  // receive LSN > replay LSN
  std::optional<double> seconds_since_last_replayed_commit;  // now() - last xact replay time
  // now() - GetCurrentChunkReplayStartTime(): when replay last caught up with received WAL.
  std::optional<double> seconds_since_replay_caught_up;
  std::int64_t connections_used = 0;  // client backends
  std::int64_t max_connections = 0;
  std::int64_t reserved_connections = 0;              // superuser_reserved_connections
  std::optional<double> longest_transaction_seconds;  // other sessions' open transactions
  std::int64_t oldest_xid_age = 0;                    // max age(datfrozenxid), all databases
  std::string database;
  std::int64_t size_bytes = 0;
  std::int64_t blocks_hit = 0;
  std::int64_t blocks_read = 0;
  std::int64_t deadlocks = 0;
  std::optional<BackupFacts> backups;  // nullopt before extension 0.8.0
};

struct DatabaseThresholds {
  double connections_degraded_percent = 80;
  double connections_down_percent = 95;
  double long_transaction_degraded_seconds = 300;
  double xid_degraded_percent = 50;
  double xid_down_percent = 95;
  double replication_lag_degraded_seconds = 60;
  double primary_silence_degraded_seconds = 60;  // as in ServiceThresholds
  double cache_hit_ratio_degraded = 0.90;
  // Below this many block reads since the last stats reset the ratio says nothing yet.
  std::int64_t cache_min_blocks = 10000;
};

// Percent of the connection slots open to ordinary roles (max minus the superuser reserve).
double connections_percent(const DatabaseFacts& facts);
std::optional<double> cache_hit_ratio(const DatabaseFacts& facts);

// How far a standby's replay trails its primary, in seconds; nullopt on a primary or when
// nothing tells. Zero with no WAL pending. Otherwise the smaller of two ages, as each alone
// overstates: the last replayed commit may precede an idle period, and replay may last have
// caught up long ago under a steady stream.
std::optional<double> standby_replay_lag_seconds(const DatabaseFacts& facts);
int streaming_replicas(const DatabaseFacts& facts);

std::vector<Finding> database_findings(const DatabaseFacts& facts,
                                       const DatabaseThresholds& thresholds = {});

// Coarse is for callers who may learn whether the database is healthy but not how it is built:
// findings without their messages, which can name replicas; no versions, addresses or sizes.
enum class Detail { kCoarse, kFull };

json::Value database_health(const DatabaseFacts& facts, Detail detail,
                            const DatabaseThresholds& thresholds = {});

}  // namespace expense_ops::core::health
