// api.health() and api.health_db(): gather the facts, let the core judge them.
//
// Both read only catalogs, statistics views and ops.worker_heartbeats, which holds one row per
// worker; nothing here scans a table that grows with traffic.
#include <stdexcept>

#include "core/health.hpp"
#include "core/version.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/jsonb.hpp"
#include "pg/spi.hpp"

namespace expense_ops::pg {

namespace {

namespace health = core::health;

// api.health() is what load balancers and uptime checks poll, so it reads its few facts
// straight from the syscache and one index probe: no SQL, no executor, no SPI.

int attribute_number(TupleDesc descriptor, const char* name) {
  for (int i = 0; i < descriptor->natts; ++i) {
    const Form_pg_attribute attribute = TupleDescAttr(descriptor, i);
    if (!attribute->attisdropped && strcmp(NameStr(attribute->attname), name) == 0) {
      return attribute->attnum;
    }
  }
  elog(ERROR, "column ops.worker_heartbeats.%s is missing; reinstall expense_ops", name);
  return InvalidAttrNumber;  // not reached
}

// The newest heartbeat as plain data, made in one guarded stretch of PostgreSQL calls.
struct NewestHeartbeat {
  bool found;
  const char* worker_id;
  const char* host;
  TimestampTz last_seen;
  double interval_seconds;
};

// ops.worker_heartbeats holds one row per worker (upserted, and pruned after a week of
// silence), so it is a page or two: scanning it is cheaper than opening and descending an index.
NewestHeartbeat read_newest_heartbeat() {
  return guarded([] {
    NewestHeartbeat newest{};
    const Oid ops = get_namespace_oid("ops", false);
    const Oid table_oid = get_relname_relid("worker_heartbeats", ops);
    if (!OidIsValid(table_oid)) {
      elog(ERROR, "ops.worker_heartbeats is missing; reinstall expense_ops");
    }
    Relation table = table_open(table_oid, AccessShareLock);
    const TupleDesc descriptor = RelationGetDescr(table);
    const int last_seen_column = attribute_number(descriptor, "last_seen");
    const Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
    TableScanDesc scan = table_beginscan(table, snapshot, 0, nullptr);
    HeapTuple newest_tuple = nullptr;
    TimestampTz newest_seen = DT_NOBEGIN;
    for (HeapTuple tuple; (tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr;) {
      bool is_null = false;
      const TimestampTz seen =
          DatumGetTimestampTz(heap_getattr(tuple, last_seen_column, descriptor, &is_null));
      if (!is_null && (newest_tuple == nullptr || seen > newest_seen)) {
        newest_tuple = heap_copytuple(tuple);  // the scan's tuple dies when it moves on
        newest_seen = seen;
      }
    }
    table_endscan(scan);
    if (newest_tuple != nullptr) {
      bool is_null = false;
      auto column = [&](const char* name) {
        return heap_getattr(newest_tuple, attribute_number(descriptor, name), descriptor, &is_null);
      };
      newest.found = true;
      newest.worker_id = TextDatumGetCString(column("worker_id"));
      newest.host = TextDatumGetCString(column("host"));
      newest.last_seen = newest_seen;
      const Interval* interval = DatumGetIntervalP(column("heartbeat_interval"));
      newest.interval_seconds =
          static_cast<double>(interval->time) / USECS_PER_SEC +
          static_cast<double>(interval->day) * SECS_PER_DAY +
          static_cast<double>(interval->month) * DAYS_PER_MONTH * SECS_PER_DAY;
    }
    table_close(table, NoLock);  // the lock is kept until the end of the transaction
    return newest;
  });
}

const char* read_installed_extension_version() {
  return guarded([] {
    const char* version = "";
    Relation extensions = table_open(ExtensionRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
                CStringGetDatum("expense_ops"));
    SysScanDesc scan = systable_beginscan(extensions, ExtensionNameIndexId, true, nullptr, 1, &key);
    const HeapTuple tuple = systable_getnext(scan);
    if (HeapTupleIsValid(tuple)) {
      bool is_null = false;
      const Datum value =
          heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(extensions), &is_null);
      if (!is_null) {
        version = TextDatumGetCString(value);
      }
    }
    systable_endscan(scan);
    table_close(extensions, AccessShareLock);
    return version;
  });
}

// pg_extension has no syscache and sends no invalidation when ALTER EXTENSION UPDATE changes
// a version, and reading it costs each transaction a catalog snapshot: the dearest part of a
// health probe. So a backend rereads it once a second at most; a changed version shows up in
// api.health() within a second.
std::string installed_extension_version(TimestampTz now) {
  static bool cached = false;
  static std::string cached_version;
  static TimestampTz cached_at = 0;
  if (!cached || now < cached_at || now - cached_at >= USECS_PER_SEC) {
    cached_version = read_installed_extension_version();
    cached_at = now;
    cached = true;
  }
  return cached_version;
}

// Like age(datfrozenxid) for this database.
std::int64_t database_xid_age() {
  return guarded([] {
    const HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
    if (!HeapTupleIsValid(tuple)) {
      elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
    }
    const TransactionId frozen = ((Form_pg_database)GETSTRUCT(tuple))->datfrozenxid;
    ReleaseSysCache(tuple);
    return static_cast<std::int64_t>(static_cast<int32>(ReadNextTransactionId() - frozen));
  });
}

// The standby's WAL receiver as pg_stat_wal_receiver shows it, read from shared memory:
// api.health() runs no SQL, and api.health_db() reads it the same way. The state names are
// pg_stat_wal_receiver's (its own mapping is static).
struct ReceiverFacts {
  bool running;
  WalRcvState state;
  TimestampTz last_message;
};

std::optional<std::string> receiver_status(const ReceiverFacts& receiver) {
  if (!receiver.running) {
    return std::nullopt;
  }
  switch (receiver.state) {
    case WALRCV_STOPPED:
      return "stopped";
    case WALRCV_STARTING:
      return "starting";
    case WALRCV_STREAMING:
      return "streaming";
    case WALRCV_WAITING:
      return "waiting";
    case WALRCV_RESTARTING:
      return "restarting";
    case WALRCV_STOPPING:
      return "stopping";
  }
  return "unknown";
}

ReceiverFacts read_receiver() {
  ReceiverFacts receiver{};
  if (WalRcv == nullptr) {
    return receiver;
  }
  // A spinlock is held for a few loads, as pg_stat_get_wal_receiver does; nothing here can fail.
  SpinLockAcquire(&WalRcv->mutex);
  receiver.running = WalRcv->pid != 0;
  receiver.state = WalRcv->walRcvState;
  receiver.last_message = WalRcv->lastMsgReceiptTime;
  SpinLockRelease(&WalRcv->mutex);
  return receiver;
}

std::optional<double> seconds_since(TimestampTz then, TimestampTz now) {
  if (then == 0) {
    return std::nullopt;  // never set
  }
  return static_cast<double>(now - then) / USECS_PER_SEC;
}

// A standby's link to its primary, read alike for api.health() and api.health_db(): `Facts`
// is health::ServiceFacts or health::DatabaseFacts, which carry the same two fields.
template <typename Facts>
void read_primary_link(Facts& facts) {
  const ReceiverFacts receiver = read_receiver();
  facts.wal_receiver_status = receiver_status(receiver);
  if (receiver.running) {
    facts.seconds_since_primary_message =
        seconds_since(receiver.last_message, GetCurrentTimestamp());
  }
}

health::ServiceFacts read_service_facts() {
  health::ServiceFacts facts;
  const TimestampTz now = GetCurrentTransactionStartTimestamp();
  facts.installed_version = installed_extension_version(now);
  facts.library_version = core::kLibraryVersion;
  facts.now = to_instant(now);
  facts.database =
      guarded([] { return static_cast<const char*>(get_database_name(MyDatabaseId)); });
  facts.in_recovery = guarded([] { return RecoveryInProgress(); });
  if (facts.in_recovery) {
    read_primary_link(facts);
  }
  facts.oldest_xid_age = database_xid_age();
  const NewestHeartbeat newest = read_newest_heartbeat();
  if (newest.found) {
    facts.latest_heartbeat = health::WorkerHeartbeat{
        newest.worker_id, newest.host, to_instant(newest.last_seen), newest.interval_seconds};
  }
  return facts;
}

constexpr const char* kDatabaseFactsSql = R"sql(
SELECT current_setting('server_version'),
       current_setting('server_version_num')::int8,
       pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN
         coalesce(pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), false)
       END,
       CASE WHEN pg_is_in_recovery() THEN
         greatest(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::int8
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
       s.deadlocks::int8,
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
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

// Whether the installed extension has the table: a library newer than the installed extension
// does without what later versions added.
bool installed_has_ops_table(const char* table) {
  return guarded(
      [table] { return OidIsValid(get_relname_relid(table, get_namespace_oid("ops", false))); });
}

constexpr const char* kBackupStatusSql = R"sql(
SELECT s.rpo_seconds, to_json(s.restorable_at) #>> '{}', s.restorable_from, s.last_backup_status,
       to_json(s.last_restore_test_at) #>> '{}', s.last_restore_test_status, s.last_rto_seconds,
       s.wal_archiving
  FROM ops.backup_status() s
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
  facts.wal_pending = row.boolean(4).value_or(false);
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
  facts.seconds_since_last_replayed_commit = row.floating(16);
  if (facts.in_recovery) {
    read_primary_link(facts);
    // When replay last reached the newest WAL received: the startup process resets it each time
    // it starts replaying the latest chunk. Not in any view; shared memory, read under its lock.
    const TimestampTz caught_up = guarded([] { return GetCurrentChunkReplayStartTime(); });
    facts.seconds_since_replay_caught_up = seconds_since(caught_up, GetCurrentTimestamp());
  }

  if (!facts.in_recovery) {
    // The setting came with 0.4.0: a library newer than the installed extension does without.
    if (installed_has_ops_table("health_settings")) {
      static SPIPlanPtr settings_plan = nullptr;
      const SpiRows settings = execute_read_only(
          kept_plan(settings_plan, "SELECT expected_replicas::int8 FROM ops.health_settings"));
      if (settings.size() == 1) {
        facts.expected_replicas = static_cast<int>(settings[0].integer(1).value_or(0));
      }
    }
    const SpiRows replicas = execute_read_only(kept_plan(replicas_plan, kReplicasSql));
    for (std::uint64_t i = 0; i < replicas.size(); ++i) {
      const SpiRow replica = replicas[i];
      facts.replicas.push_back(health::ReplicaFacts{
          replica.string(1).value_or(""), replica.string(2), replica.string(3).value_or(""),
          replica.string(4).value_or(""), replica.floating(5), replica.integer(6)});
    }
  }
  // The objectives came with 0.8.0: a library newer than the installed extension does without.
  if (installed_has_ops_table("backup_settings")) {
    static SPIPlanPtr backups_plan = nullptr;
    const SpiRows backups = execute_read_only(kept_plan(backups_plan, kBackupStatusSql));
    if (backups.size() == 1) {
      const SpiRow row = backups[0];
      facts.backups =
          health::BackupFacts{row.floating(1), row.string(2), row.string(3),   row.string(4),
                              row.string(5),   row.string(6), row.floating(7), row.string(8)};
    }
  }
  spi.finish();
  return facts;
}

// Whether the caller of api.health_db() gets the detail: the operator's staff do, as
// ops.is_support_staff() says (a user marked is_staff, through the API, or a member of
// expense_ops_admin), and superusers. SECURITY DEFINER hides the caller from GetUserId(); the
// caller is the role set for the transaction (PostgREST's SET LOCAL ROLE), else the session's
// user (psql).
bool caller_sees_health_detail() {
  const bool admin_member = guarded([] {
    const char* role = GetConfigOption("role", false, false);
    Oid caller = GetSessionUserId();
    if (role != nullptr && strcmp(role, "none") != 0) {
      caller = get_role_oid(role, true);
    }
    const Oid admin = get_role_oid("expense_ops_admin", true);
    return OidIsValid(caller) && OidIsValid(admin) && has_privs_of_role(caller, admin);
  });
  if (admin_member) {
    return true;
  }
  // Staff through the API (the JWT's user, marked is_staff) see it from 0.8.0 on, which put the
  // recovery objectives into it.
  if (!installed_has_ops_table("backup_settings")) {
    return false;
  }
  static SPIPlanPtr staff_plan = nullptr;
  SpiConnection spi;
  const SpiRows rows = execute_read_only(kept_plan(staff_plan, "SELECT ops.is_support_staff()"));
  const bool staff = rows.size() == 1 && rows[0].boolean(1).value_or(false);
  spi.finish();
  return staff;
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
  const auto detail =
      pg::caller_sees_health_detail() ? core::health::Detail::kFull : core::health::Detail::kCoarse;
  return pg::to_jsonb(core::health::database_health(pg::read_database_facts(), detail));
}

// ops.health_db_detail(): what api.health_db() tells expense_ops_admin, whoever calls. Internal:
// executable by nobody but the extension's owner, so only the SECURITY DEFINER metrics of
// extension/sql/objectives.sql (connections, replication) read it, and they read the same facts
// and judgement as api.health_db() instead of a second copy of its queries.
EXPENSE_OPS_FUNCTION(expense_ops_health_db_detail) {
  (void)fcinfo;
  using namespace expense_ops;
  return pg::to_jsonb(
      core::health::database_health(pg::read_database_facts(), core::health::Detail::kFull));
}
