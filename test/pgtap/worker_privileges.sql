-- The worker connects as a LOGIN role that has only expense_ops_worker's privileges:
-- it can record heartbeats and read health, and nothing else.
BEGIN;
SELECT plan(9);

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

SELECT * FROM finish();
ROLLBACK;
