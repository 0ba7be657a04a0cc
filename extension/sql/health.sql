-- expense_ops: health. The sidecar worker's heartbeats, the service and database health
-- functions of the API, and what the database health expects of the deployment.

-- ---------------------------------------------------------------------------------------------
-- Worker heartbeats: one row per worker, upserted every heartbeat interval.

CREATE TABLE ops.worker_heartbeats (
  worker_id          text PRIMARY KEY CHECK (worker_id <> ''),
  host               text NOT NULL,
  pid                integer NOT NULL CHECK (pid > 0),
  version            text NOT NULL,
  started_at         timestamptz NOT NULL,
  last_seen          timestamptz NOT NULL DEFAULT now(),
  heartbeat_interval interval NOT NULL CHECK (heartbeat_interval > interval '0')
);
COMMENT ON TABLE ops.worker_heartbeats IS
  'One row per expense-ops-worker, refreshed every heartbeat; api.health() reads the newest';
COMMENT ON COLUMN ops.worker_heartbeats.worker_id IS 'The worker''s configured id (default: its host name)';
COMMENT ON COLUMN ops.worker_heartbeats.host IS 'Host name the worker runs on';
COMMENT ON COLUMN ops.worker_heartbeats.pid IS 'Process id of the worker on its host';
COMMENT ON COLUMN ops.worker_heartbeats.version IS 'The worker''s version';
COMMENT ON COLUMN ops.worker_heartbeats.started_at IS 'When this worker process started';
COMMENT ON COLUMN ops.worker_heartbeats.last_seen IS 'Database time of the latest heartbeat';
COMMENT ON COLUMN ops.worker_heartbeats.heartbeat_interval IS
  'The worker''s heartbeat interval; api.health() degrades after 3 intervals of silence';

GRANT SELECT ON ops.worker_heartbeats TO expense_ops_admin;

CREATE FUNCTION ops.record_worker_heartbeat(
  worker_id text, host text, pid integer, version text, started_at timestamptz,
  heartbeat_interval interval)
RETURNS timestamptz
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  -- Workers that have been silent for a week are gone; forget them so the table stays small.
  DELETE FROM ops.worker_heartbeats WHERE last_seen < now() - interval '7 days';
  INSERT INTO ops.worker_heartbeats AS h
         (worker_id, host, pid, version, started_at, last_seen, heartbeat_interval)
  VALUES (worker_id, host, pid, version, started_at, now(), heartbeat_interval)
  ON CONFLICT ON CONSTRAINT worker_heartbeats_pkey DO UPDATE
     SET host = excluded.host, pid = excluded.pid, version = excluded.version,
         started_at = excluded.started_at, last_seen = excluded.last_seen,
         heartbeat_interval = excluded.heartbeat_interval
  RETURNING h.last_seen;
$$;
COMMENT ON FUNCTION ops.record_worker_heartbeat(text, text, integer, text, timestamptz, interval) IS
  'Records a worker heartbeat (upsert by worker_id) and returns its database time; the only write the worker role may make here';
REVOKE ALL ON FUNCTION ops.record_worker_heartbeat(text, text, integer, text, timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.record_worker_heartbeat(text, text, integer, text, timestamptz, interval)
  TO expense_ops_worker;

-- ---------------------------------------------------------------------------------------------
-- Health. Neither exposes more than the documented summary: aggregates, never another
-- session's query text, and of the heartbeats only the newest worker's id and host.
--
-- api.health() runs no SQL: its C code reads the catalogs and the newest heartbeat directly,
-- so it needs neither SECURITY DEFINER nor a search_path, and stays cheap enough to poll.
-- api.health_db() queries statistics views, which hide other sessions from ordinary roles, so
-- it runs as its owner with a pinned search_path.

CREATE FUNCTION api.health()
RETURNS jsonb
LANGUAGE c
STABLE
AS 'MODULE_PATHNAME', 'expense_ops_health';
COMMENT ON FUNCTION api.health() IS
$$Service health (GET /rpc/health). status is ok, degraded or down: degraded when no worker heartbeat arrived within 3 of the worker's heartbeat intervals, when the loaded library and the installed extension versions differ, when the oldest transaction id passed 50 % of wraparound (down past 95 %), or on a standby that is not streaming from its primary or has heard nothing from it for 60 s. Also reports version, time, database, in_recovery, replication (on a standby), the worker (status ok/stale/missing, last_heartbeat, age_seconds) and the findings behind the status.$$;

CREATE FUNCTION api.health_db()
RETURNS jsonb
LANGUAGE c
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'expense_ops_health_db';
COMMENT ON FUNCTION api.health_db() IS
$$Database health (GET /rpc/health_db). Everyone gets status (ok, degraded, down), in_recovery, the replication role and the findings' checks; the operator's staff (ops.is_support_staff(): members of expense_ops_admin in psql, users marked is_staff through the API) also get the detail: server version, replication (a primary's replicas with their lag, and how many stream against ops.health_settings.expected_replicas; a standby's WAL receiver, the time since its primary's last message and its replay lag), connections used/max/percent, the longest open transaction, transaction-id wraparound, database size, cache hit ratio, deadlocks, each finding's message, and backups (rpo_seconds, the newest restorable point and where it comes from, the last backup's status, wal_archiving, the last restore test and the rto_seconds of the newest passing one). Degraded at 80 % of the connection slots open to ordinary roles (down at 95 %), a transaction open 300 s, replication lag of 60 s, a standby without a streaming WAL receiver or without a message from its primary for 60 s, fewer streaming replicas than expected, a cache hit ratio below 0.90 over at least 10000 block reads, or the oldest xid past 50 % of wraparound (down at 95 %).$$;

REVOKE ALL ON FUNCTION api.health(), api.health_db() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.health(), api.health_db()
  TO expense_anon, expense_user, expense_ops_worker, expense_ops_admin;

-- ---------------------------------------------------------------------------------------------
-- What api.health_db() expects of this deployment.

CREATE TABLE ops.health_settings (
  singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  expected_replicas integer NOT NULL DEFAULT 0 CHECK (expected_replicas >= 0)
);
COMMENT ON TABLE ops.health_settings IS 'One row: what api.health_db() expects of this deployment';
COMMENT ON COLUMN ops.health_settings.singleton IS 'Always true: there is one row';
COMMENT ON COLUMN ops.health_settings.expected_replicas IS
  'Streaming replicas a primary should have; fewer degrade api.health_db() (default 0: none expected)';
INSERT INTO ops.health_settings DEFAULT VALUES;
GRANT SELECT, UPDATE ON ops.health_settings TO expense_ops_admin;
SELECT pg_catalog.pg_extension_config_dump('ops.health_settings', '');
