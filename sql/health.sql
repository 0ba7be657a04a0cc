-- api.health() and api.health_db(): shape, status rules, and the worker heartbeat.
CREATE EXTENSION IF NOT EXISTS expense_ops;
TRUNCATE ops.worker_heartbeats;

-- No worker has ever reported: degraded, and the finding says why.
SELECT h->>'status' AS status,
       h->>'version' = (SELECT extversion FROM pg_extension WHERE extname = 'expense_ops') AS version_matches,
       h->>'database' = current_database() AS database_matches,
       (h->>'time')::timestamptz = now() AS time_is_now,
       h->'worker' AS worker,
       h->'findings'->0->>'message' AS finding
  FROM api.health() h;

-- A heartbeat, as the worker records it, makes the service ok.
SELECT ops.record_worker_heartbeat('worker-a', 'host-a', 4242, '0.1.0', now() - interval '1 hour',
                                   interval '10 seconds') = now() AS recorded_at_now;
SELECT h->>'status' AS status,
       h->'worker'->>'status' AS worker_status,
       h->'worker'->>'worker_id' AS worker_id,
       (h->'worker'->>'age_seconds')::float8 BETWEEN 0 AND 5 AS fresh,
       (h->'worker'->>'heartbeat_interval_seconds')::float8 AS interval_seconds,
       jsonb_array_length(h->'findings') AS findings
  FROM api.health() h;

-- The document is well-formed jsonb: reparsing its text gives an equal value, which it would
-- not if its object keys were out of jsonb's order.
SELECT api.health() = (api.health()::text)::jsonb AS canonical,
       api.health_db() - 'longest_transaction_seconds' - 'connections' - 'database'
         = ((api.health_db() - 'longest_transaction_seconds' - 'connections' - 'database')::text)::jsonb
         AS canonical_db;

-- Heartbeats upsert: one row per worker.
SELECT ops.record_worker_heartbeat('worker-a', 'host-a', 4243, '0.1.0', now(), interval '10 seconds') IS NOT NULL;
SELECT count(*) AS rows, max(pid) AS pid FROM ops.worker_heartbeats;

-- Exactly three intervals of silence is still ok; a moment more is stale. (One transaction,
-- so that now() stands still.)
BEGIN;
UPDATE ops.worker_heartbeats SET last_seen = now() - interval '30 seconds';
SELECT api.health()->>'status' AS at_three_intervals;
UPDATE ops.worker_heartbeats SET last_seen = now() - interval '30.001 seconds';
SELECT h->>'status' AS status, h->'worker'->>'status' AS worker_status,
       (h->'worker'->>'age_seconds')::float8 AS age_seconds,
       h->'findings'->0->>'check' AS check
  FROM api.health() h;
COMMIT;

-- The newest of several workers speaks for the service.
SELECT ops.record_worker_heartbeat('worker-b', 'host-b', 7, '0.1.0', now(), interval '10 seconds') IS NOT NULL;
SELECT api.health()->>'status' AS status, api.health()->'worker'->>'worker_id' AS newest;

-- Workers silent for a week are forgotten at the next heartbeat.
UPDATE ops.worker_heartbeats SET last_seen = now() - interval '8 days' WHERE worker_id = 'worker-a';
SELECT ops.record_worker_heartbeat('worker-b', 'host-b', 7, '0.1.0', now(), interval '10 seconds') IS NOT NULL;
SELECT worker_id FROM ops.worker_heartbeats ORDER BY 1;

-- Bad heartbeats are refused, and nothing is written.
\set VERBOSITY terse
SELECT ops.record_worker_heartbeat('', 'h', 1, 'v', now(), interval '1 second');
SELECT ops.record_worker_heartbeat('w', 'h', 0, 'v', now(), interval '1 second');
SELECT ops.record_worker_heartbeat('w', 'h', 1, 'v', now(), interval '0 seconds');
SELECT ops.record_worker_heartbeat('w', NULL, 1, 'v', now(), interval '1 second');
\set VERBOSITY default
SELECT count(*) AS rows FROM ops.worker_heartbeats;

-- A library that does not match the installed extension (binaries upgraded, ALTER EXTENSION
-- UPDATE not yet run) degrades health. The installed version is reread at most once a second.
SELECT api.health()->>'status' AS before_mismatch;
UPDATE pg_extension SET extversion = '0.0.9' WHERE extname = 'expense_ops';
SELECT pg_sleep(1.1);
SELECT h->>'status' AS status, h->>'version' AS version, h->>'library_version' = '0.0.9' AS same,
       h->'findings'->0->>'message' = format('the loaded library is %s but the installed extension '
                                             'is 0.0.9; run ALTER EXTENSION expense_ops UPDATE',
                                             h->>'library_version') AS finding_says_what_to_run
  FROM api.health() h;
UPDATE pg_extension SET extversion = (SELECT default_version FROM pg_available_extensions
                                       WHERE name = 'expense_ops')
 WHERE extname = 'expense_ops';
SELECT pg_sleep(1.1);
SELECT api.health()->>'status' AS after_repair;

-- api.health_db(): every documented key, with sane values on this primary.
SELECT h->>'status' AS status,
       (h->>'server_version_num')::int >= 150000 AS is_pg15_or_later,
       h->>'in_recovery' AS in_recovery,
       h->'replication'->>'role' AS role,
       jsonb_typeof(h->'replication'->'replicas') AS replicas,
       (h->'connections'->>'used')::int >= 1 AS sees_this_connection,
       (h->'connections'->>'max')::int = current_setting('max_connections')::int AS max_matches,
       (h->'connections'->>'percent')::float8 BETWEEN 0 AND 100 AS percent_in_range,
       (h->'xid_wraparound'->>'percent')::float8 < 1 AS young_xids,
       (h->'database'->>'size_bytes')::bigint = pg_database_size(current_database()) AS size_matches,
       h->'database'->>'name' = current_database() AS name_matches,
       (h->'database'->>'deadlocks')::int >= 0 AS deadlocks_counted,
       jsonb_typeof(h->'database'->'cache_hit_ratio') IN ('number', 'null') AS cache_hit_ratio,
       h ? 'longest_transaction_seconds' AS has_longest_transaction,
       h->'findings' AS findings
  FROM api.health_db() h;

-- Both are STABLE, so PostgREST may serve them with GET.
SELECT proname, provolatile FROM pg_proc
 WHERE pronamespace = 'api'::regnamespace AND proname LIKE 'health%' ORDER BY 1;

-- A primary expected to stream to a replica, and streaming to none, is degraded.
SELECT h->'replication'->>'streaming_replicas' AS streaming, h->'replication'->>'expected_replicas' AS expected
  FROM api.health_db() h;
UPDATE ops.health_settings SET expected_replicas = 1;
SELECT h->>'status' AS status, h->'findings' AS findings FROM api.health_db() h;
UPDATE ops.health_settings SET expected_replicas = 0;

-- The anonymous role may call both; api.health_db() gives it the status and coarse facts only,
-- the detail is for expense_ops_admin (and superusers). PostgREST sets the role per request.
SET ROLE expense_anon;
SELECT api.health() ? 'status' AS anon_health, api.health_db() AS anon_health_db;
SELECT count(*) FROM ops.worker_heartbeats;  -- but not read the table behind them
RESET ROLE;
BEGIN;
SELECT set_config('role', 'expense_user', true) IS NOT NULL AS as_a_logged_in_user;
SELECT array_agg(k ORDER BY k) AS user_keys FROM jsonb_object_keys(api.health_db()) k;
SELECT set_config('role', 'expense_ops_worker', true) IS NOT NULL AS as_the_worker;
SELECT array_agg(k ORDER BY k) AS worker_keys FROM jsonb_object_keys(api.health_db()) k;
ROLLBACK;
CREATE ROLE health_staff IN ROLE expense_ops_admin;
SET ROLE health_staff;
SELECT api.health_db() ? 'server_version' AS admin_gets_the_detail,
       api.health_db()->'replication' ? 'replicas' AS with_the_replicas;
RESET ROLE;
DROP ROLE health_staff;
TRUNCATE ops.worker_heartbeats;
