-- expense_ops 0.1.0: roles, schemas, the worker heartbeat and the health functions.
\echo Use "CREATE EXTENSION expense_ops" to load this file. \quit

-- Roles are cluster-wide and outlive the extension, so they are created only when missing
-- and never dropped by DROP EXTENSION.
DO $roles$
DECLARE
  role_name text;
  role_comment text;
BEGIN
  FOR role_name, role_comment IN VALUES
    ('expense_anon', 'expense_ops: the unauthenticated caller (PostgREST db-anon-role)'),
    ('expense_user', 'expense_ops: every logged-in caller of the api schema'),
    ('expense_ops_worker', 'expense_ops: privileges of the sidecar worker; grant it to the worker''s LOGIN role'),
    ('expense_ops_admin', 'expense_ops: support staff and DBAs working in psql')
  LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      EXECUTE format('COMMENT ON ROLE %I IS %L', role_name, role_comment);
    END IF;
  END LOOP;
END
$roles$;

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS 'expense_ops: the public API, the only schema PostgREST exposes';
CREATE SCHEMA expense;
COMMENT ON SCHEMA expense IS 'expense_ops: domain data (expenses, categories, policies)';
CREATE SCHEMA iam;
COMMENT ON SCHEMA iam IS 'expense_ops: users, credentials, keys and login attempts; private';
CREATE SCHEMA ops;
COMMENT ON SCHEMA ops IS 'expense_ops: support operations (tickets, SLA, checks, metrics, alerts, backups, releases)';

GRANT USAGE ON SCHEMA api TO expense_anon, expense_user, expense_ops_worker, expense_ops_admin;
GRANT USAGE ON SCHEMA ops TO expense_ops_worker, expense_ops_admin;

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
$$Service health (GET /rpc/health). status is ok, degraded or down: degraded when no worker heartbeat arrived within 3 of the worker's heartbeat intervals, when the loaded library and the installed extension versions differ, or when the oldest transaction id passed 50 % of wraparound; down past 95 %. Also reports version, time, database, in_recovery, the worker (status ok/stale/missing, last_heartbeat, age_seconds) and the findings behind the status.$$;

CREATE FUNCTION api.health_db()
RETURNS jsonb
LANGUAGE c
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'expense_ops_health_db';
COMMENT ON FUNCTION api.health_db() IS
$$Database health (GET /rpc/health_db): server version, recovery, replication (replicas and their lag, or this standby's lag), connections used/max/percent, the longest open transaction, transaction-id wraparound, database size, cache hit ratio and deadlocks. status is degraded when connections reach 80 % (down at 95 %) of the slots open to ordinary roles, a transaction stays open 300 s, replication lags 60 s, the cache hit ratio falls below 0.90 over at least 10000 block reads, or the oldest xid passes 50 % of wraparound (down at 95 %).$$;

REVOKE ALL ON FUNCTION api.health(), api.health_db() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.health(), api.health_db()
  TO expense_anon, expense_user, expense_ops_worker, expense_ops_admin;
