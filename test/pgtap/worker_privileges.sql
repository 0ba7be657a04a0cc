-- The worker connects as a LOGIN role that has only expense_ops_worker's privileges:
-- it can record heartbeats, read health and the metrics its alert rules need, and nothing else.
BEGIN;
SELECT plan(14);

CREATE ROLE tap_worker_login LOGIN IN ROLE expense_ops_worker;
SET LOCAL ROLE tap_worker_login;

SELECT lives_ok(
  $$SELECT ops.record_worker_heartbeat('tap-worker', 'tap-host', 99, '0.1.0', now(), interval '5 seconds')$$,
  'the worker records its heartbeat');
SELECT is(api.health()->'worker'->>'worker_id', 'tap-worker', 'api.health() sees that heartbeat');
SELECT is(api.health()->>'status', 'ok', 'and the service is ok');
SELECT is((api.health()->'worker'->>'heartbeat_interval_seconds')::float8, 5.0::float8,
          'the worker''s own interval is reported');
SELECT throws_ok($$SELECT * FROM ops.worker_heartbeats$$, '42501', NULL,
                 'the worker cannot read the table directly');
SELECT throws_ok($$INSERT INTO ops.worker_heartbeats VALUES ('x', 'h', 1, 'v', now(), now(), '1 s')$$,
                 '42501', NULL, 'nor write it directly');
SELECT throws_ok($$DELETE FROM ops.worker_heartbeats$$, '42501', NULL, 'nor delete from it');
SELECT throws_ok($$CREATE TABLE ops.intruder (id int)$$, '42501', NULL, 'nor create objects in ops');
SELECT throws_ok($$SELECT ops.record_worker_heartbeat('', 'h', 1, 'v', now(), interval '1 second')$$,
                 '23514', NULL, 'an empty worker id is refused');

-- Connections and replication come from api.health_db()'s own facts, whose detail is for
-- expense_ops_admin: the worker reads the numbers through the metrics, not the detail.
SELECT is(api.health_db() ? 'connections', false, 'api.health_db() keeps its detail from the worker');
SELECT ok((SELECT used >= 1 AND max_connections > reserved AND percent > 0 FROM ops.connection_usage()),
          'yet the worker reads the connection usage');
SELECT is(ops.standby_count(), 0, 'and how many standbys stream: none here');
SELECT throws_ok($$SELECT ops.health_db_detail()$$, '42501', NULL, 'but not the whole detail');
SELECT lives_ok($$SELECT ops.sample_statements()$$, 'the worker samples pg_stat_statements');

SELECT * FROM finish();
ROLLBACK;
