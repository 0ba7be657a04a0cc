// api.health() and api.health_db(): read the facts with SPI, let the core judge them.
//
// Both queries touch only catalogs, statistics views and ops.worker_heartbeats, which holds one
// row per worker; nothing here scans a table that grows with traffic.
#include <stdexcept>

#include "core/health.hpp"
#include "core/version.hpp"
#include "pg/boundary.hpp"
#include "pg/jsonb.hpp"
#include "pg/spi.hpp"

namespace expense_ops::pg {

namespace {

namespace health = core::health;

constexpr const char* kServiceFactsSql = R"sql(
SELECT e.extversion::text,
       now(),
       current_database()::text,
       pg_is_in_recovery(),
       age(d.datfrozenxid)::int8,
       h.worker_id,
       h.host,
       h.last_seen,
       extract(epoch FROM h.heartbeat_interval)::float8
  FROM pg_database d
  LEFT JOIN pg_extension e ON e.extname = 'expense_ops'
  LEFT JOIN LATERAL (SELECT worker_id, host, last_seen, heartbeat_interval
                       FROM ops.worker_heartbeats
                      ORDER BY last_seen DESC
                      LIMIT 1) h ON true
 WHERE d.datname = current_database()
)sql";

health::ServiceFacts read_service_facts() {
  static SPIPlanPtr plan = nullptr;
  SpiConnection spi;
  const SpiRows rows = execute_read_only(kept_plan(plan, kServiceFactsSql));
  if (rows.size() != 1) {
    throw std::runtime_error("health facts query returned no row for the current database");
  }
  const SpiRow row = rows[0];
  health::ServiceFacts facts;
  facts.installed_version = row.string(1).value_or("");
  facts.library_version = core::kLibraryVersion;
  facts.now = row.instant(2).value();
  facts.database = row.string(3).value_or("");
  facts.in_recovery = row.boolean(4).value_or(false);
  facts.oldest_xid_age = row.integer(5).value_or(0);
  if (const auto last_seen = row.instant(8)) {
    facts.latest_heartbeat = health::WorkerHeartbeat{row.string(6).value_or(""),
                                                     row.string(7).value_or(""), *last_seen,
                                                     row.floating(9).value_or(10.0)};
  }
  spi.finish();
  return facts;
}

constexpr const char* kDatabaseFactsSql = R"sql(
SELECT current_setting('server_version'),
       current_setting('server_version_num')::int8,
       pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN
         CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
              ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
         END::float8
       END,
       CASE WHEN pg_is_in_recovery() THEN
         pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8
       END,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int8,
       current_setting('max_connections')::int8,
       current_setting('superuser_reserved_connections')::int8,
       (SELECT extract(epoch FROM max(now() - xact_start))
          FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::float8,
       (SELECT max(age(datfrozenxid)) FROM pg_database)::int8,
       current_database()::text,
       pg_database_size(current_database())::int8,
       s.blks_hit::int8,
       s.blks_read::int8,
       s.deadlocks::int8
  FROM pg_stat_database s
 WHERE s.datname = current_database()
)sql";

// pg_current_wal_lsn() fails during recovery, so replicas are read on a primary only.
constexpr const char* kReplicasSql = R"sql(
SELECT application_name::text,
       client_addr::text,
       state::text,
       sync_state::text,
       extract(epoch FROM replay_lag)::float8,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::int8
  FROM pg_stat_replication
 ORDER BY application_name, pid
)sql";

health::DatabaseFacts read_database_facts() {
  static SPIPlanPtr facts_plan = nullptr;
  static SPIPlanPtr replicas_plan = nullptr;
  SpiConnection spi;
  const SpiRows rows = execute_read_only(kept_plan(facts_plan, kDatabaseFactsSql));
  if (rows.size() != 1) {
    throw std::runtime_error("database facts query returned no row for the current database");
  }
  const SpiRow row = rows[0];
  health::DatabaseFacts facts;
  facts.server_version = row.string(1).value_or("");
  facts.server_version_num = row.integer(2).value_or(0);
  facts.in_recovery = row.boolean(3).value_or(false);
  facts.standby_replay_lag_seconds = row.floating(4);
  facts.standby_replay_lag_bytes = row.integer(5);
  facts.connections_used = row.integer(6).value_or(0);
  facts.max_connections = row.integer(7).value_or(0);
  facts.reserved_connections = row.integer(8).value_or(0);
  facts.longest_transaction_seconds = row.floating(9);
  facts.oldest_xid_age = row.integer(10).value_or(0);
  facts.database = row.string(11).value_or("");
  facts.size_bytes = row.integer(12).value_or(0);
  facts.blocks_hit = row.integer(13).value_or(0);
  facts.blocks_read = row.integer(14).value_or(0);
  facts.deadlocks = row.integer(15).value_or(0);

  if (!facts.in_recovery) {
    const SpiRows replicas = execute_read_only(kept_plan(replicas_plan, kReplicasSql));
    for (std::uint64_t i = 0; i < replicas.size(); ++i) {
      const SpiRow replica = replicas[i];
      facts.replicas.push_back(health::ReplicaFacts{
          replica.string(1).value_or(""), replica.string(2), replica.string(3).value_or(""),
          replica.string(4).value_or(""), replica.floating(5), replica.integer(6)});
    }
  }
  spi.finish();
  return facts;
}

}  // namespace

}  // namespace expense_ops::pg

EXPENSE_OPS_FUNCTION(expense_ops_health) {
  (void)fcinfo;
  using namespace expense_ops;
  return pg::to_jsonb(core::health::service_health(pg::read_service_facts()));
}

EXPENSE_OPS_FUNCTION(expense_ops_health_db) {
  (void)fcinfo;
  using namespace expense_ops;
  return pg::to_jsonb(core::health::database_health(pg::read_database_facts()));
}
