-- The health status machine: missing -> ok -> stale, and its thresholds.
BEGIN;
SELECT plan(10);

TRUNCATE ops.worker_heartbeats;
SELECT is(api.health()->>'status', 'degraded', 'degraded while no worker ever reported');
SELECT is(api.health()->'worker'->>'status', 'missing', 'the worker is missing');

SELECT ops.record_worker_heartbeat('w', 'h', 1, '0.1.0', now(), interval '2 seconds');
SELECT is(api.health()->>'status', 'ok', 'ok once a heartbeat arrives');

UPDATE ops.worker_heartbeats SET last_seen = now() - interval '6 seconds';
SELECT is(api.health()->>'status', 'ok', 'ok at exactly three 2-second intervals');
UPDATE ops.worker_heartbeats SET last_seen = now() - interval '6.5 seconds';
SELECT is(api.health()->>'status', 'degraded', 'degraded past three intervals');
SELECT is(api.health()->'worker'->>'status', 'stale', 'the worker is stale');
SELECT is((api.health()->'worker'->>'age_seconds')::numeric, 6.5, 'its age is reported in seconds');
SELECT matches(api.health()->'findings'->0->>'message', 'no worker heartbeat for 6 s',
               'the finding says how long the silence is');

SELECT is(api.health()->>'version', (SELECT extversion FROM pg_extension WHERE extname = 'expense_ops'),
          'version is the installed extension version');
SELECT ok((api.health_db()->'connections'->>'used')::int >= 1, 'health_db counts this connection');

SELECT * FROM finish();
ROLLBACK;
