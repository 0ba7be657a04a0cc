-- Metrics and objectives: slow statements, connections and replication, consecutive failures,
-- SLOs with their error budgets and burn rates, and tickets at risk, all at explicit instants.
CREATE EXTENSION IF NOT EXISTS expense_ops;
SET client_min_messages = warning;
SET TIME ZONE 'UTC';
\set VERBOSITY default

-- What a statement says: 'ok', or its SQLSTATE and message. Nothing partial stays behind.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT count(*) >= 0 AS partitions_made FROM ops.maintain_partitions('2026-09-10 12:00Z');

-- ---------------------------------------------------------------------------------------------
-- Slow statements.

-- This database has no pg_stat_statements: a sample writes nothing, and says so.
SELECT ops.sample_statements('2026-09-10 12:00Z') AS written_without_pg_stat_statements;
SELECT pg_temp.try($$SELECT ops.sample_statements(NULL)$$);

-- Snapshots as the worker takes them: running totals since pg_stat_statements' last reset.
INSERT INTO ops.statement_samples (at, userid, queryid, toplevel, query, calls, total_exec_time) VALUES
  -- 1: slow, run by two roles; its text is the newest snapshot's.
  ('2026-09-10 11:00Z', 10, 1, true, 'SELECT slow', 10, 10000),
  ('2026-09-10 11:30Z', 10, 1, true, 'SELECT slow', 20, 30000),
  ('2026-09-10 12:00Z', 10, 1, true, 'SELECT slow /* v2 */', 25, 40000),
  ('2026-09-10 11:00Z', 11, 1, true, 'SELECT slow', 1, 100),
  ('2026-09-10 11:30Z', 11, 1, true, 'SELECT slow', 1, 100),
  ('2026-09-10 12:00Z', 11, 1, true, 'SELECT slow /* v2 */', 2, 5100),
  -- 2: pg_stat_statements was reset between 11:00 and 11:30: the shrunk totals count from zero.
  ('2026-09-10 11:00Z', 10, 2, true, 'SELECT reset', 100, 1000),
  ('2026-09-10 11:30Z', 10, 2, true, 'SELECT reset', 4, 400),
  ('2026-09-10 12:00Z', 10, 2, true, 'SELECT reset', 10, 1000),
  -- 3: first seen at 11:30, so all of it ran after the first snapshot.
  ('2026-09-10 11:30Z', 10, 3, true, 'SELECT new', 2, 50),
  ('2026-09-10 12:00Z', 10, 3, true, 'SELECT new', 2, 50),
  -- 4: did not run in the period.
  ('2026-09-10 11:00Z', 10, 4, true, 'SELECT idle', 5, 5),
  ('2026-09-10 11:30Z', 10, 4, true, 'SELECT idle', 5, 5),
  ('2026-09-10 12:00Z', 10, 4, true, 'SELECT idle', 5, 5);
-- 1: (25 - 10) + (2 - 1) calls, 30000 + 5000 ms; 2: 4 + 6 calls, 400 + 600 ms; 3: 2 calls, 50 ms.
SELECT * FROM ops.slow_statements('2026-09-10 11:00Z', '2026-09-10 12:00Z');
-- From 11:15 the first snapshot is 11:30's: 1 ran 5 + 1 times, 2 six times, 3 not at all.
SELECT * FROM ops.slow_statements('2026-09-10 11:15Z', '2026-09-10 12:00Z');
-- One snapshot tells nothing.
SELECT count(*) AS one_snapshot FROM ops.slow_statements('2026-09-10 11:45Z', '2026-09-10 12:15Z');
SELECT pg_temp.try($$SELECT * FROM ops.slow_statements('2026-09-10 12:00Z', '2026-09-10 12:00Z')$$);
SELECT pg_temp.try($$SELECT * FROM ops.slow_statements(NULL, '2026-09-10 12:00Z')$$);
-- No snapshot in the period and no pg_stat_statements: what runs for over 1 s now, from
-- pg_stat_activity. Nothing else runs in this database, so nothing; the integration layer
-- (objectives_test.py) shows a statement caught running.
SELECT count(*) AS running_now FROM ops.slow_statements('2026-08-01 00:00Z', '2026-08-02 00:00Z');
-- The snapshots are partitioned by day and kept 30 days.
SELECT parent, granularity, retention FROM ops.partition_settings WHERE parent = 'ops.statement_samples'::regclass;
SELECT tableoid::regclass AS partition, count(*) FROM ops.statement_samples GROUP BY 1 ORDER BY 1;

-- ---------------------------------------------------------------------------------------------
-- Connections and replication, as api.health_db() reports them.

SELECT u.used >= 1 AS counts_this_session,
       u.max_connections = current_setting('max_connections')::integer AS max_is_the_setting,
       u.reserved = current_setting('superuser_reserved_connections')::integer AS reserved_is_the_setting,
       abs(u.percent - 100.0 * u.used / (u.max_connections - u.reserved)) < 1e-9 AS percent_of_ordinary_slots,
       u.used = (h.detail->'connections'->>'used')::integer AS as_health_db_counts
  FROM ops.connection_usage() u, (SELECT api.health_db() AS detail) h;
-- A primary without standbys.
SELECT count(*) AS standbys FROM ops.replication_metrics();
SELECT ops.standby_count();

-- ---------------------------------------------------------------------------------------------
-- Consecutive failures.

INSERT INTO ops.checks (check_id, kind, target, every, labels) VALUES
  ('obj.a', 'sql', 'SELECT true', '1 minute', '{"team": "obj"}'),
  ('obj.b', 'sql', 'SELECT true', '1 minute', '{"team": "obj"}'),
  ('obj.c', 'sql', 'SELECT true', '1 minute', '{}'),
  ('obj.d', 'sql', 'SELECT true', '1 minute', '{}'),
  ('obj.e', 'sql', 'SELECT true', '1 minute', '{}');
UPDATE ops.checks SET enabled = false WHERE check_id = 'obj.d';
SELECT count(*) AS rejected FROM ops.record_check_results($$[
  {"check_id": "obj.a", "started_at": "2026-09-10T11:50:00Z", "outcome": "up", "duration_ms": 1},
  {"check_id": "obj.a", "started_at": "2026-09-10T11:51:00Z", "outcome": "down", "detail": "false"},
  {"check_id": "obj.a", "started_at": "2026-09-10T11:52:00Z", "outcome": "unknown", "detail": "worker_down"},
  {"check_id": "obj.a", "started_at": "2026-09-10T11:53:00Z", "outcome": "down", "detail": "false"},
  {"check_id": "obj.a", "started_at": "2026-09-10T11:54:00Z", "outcome": "unknown", "detail": "worker_down"},
  {"check_id": "obj.b", "started_at": "2026-09-10T11:50:00Z", "outcome": "down", "detail": "false"},
  {"check_id": "obj.b", "started_at": "2026-09-10T11:51:00Z", "outcome": "down", "detail": "false"},
  {"check_id": "obj.b", "started_at": "2026-09-10T11:52:00Z", "outcome": "up", "duration_ms": 1},
  {"check_id": "obj.c", "started_at": "2026-09-10T11:55:00Z", "outcome": "down", "detail": "false"},
  {"check_id": "obj.c", "started_at": "2026-09-10T11:56:00Z", "outcome": "down", "detail": "false"},
  {"check_id": "obj.d", "started_at": "2026-09-10T11:56:00Z", "outcome": "down", "detail": "false"}
]$$, '2026-09-10 12:00Z');
-- obj.a: two downs since its last up, the unknowns between and after them neither counting nor
-- breaking the run; obj.b recovered; obj.c was never up; obj.d is disabled; obj.e has no results.
SELECT * FROM ops.consecutive_failures('2026-09-10 12:00Z') WHERE check_id LIKE 'obj.%';
-- Earlier, obj.b had failed twice and obj.a once; obj.c had not run yet.
SELECT * FROM ops.consecutive_failures('2026-09-10 11:51:30Z') WHERE check_id LIKE 'obj.%';
SELECT pg_temp.try($$SELECT * FROM ops.consecutive_failures(NULL)$$);

-- ---------------------------------------------------------------------------------------------
-- Service level objectives.

-- The plan's objectives are seeded.
SELECT slo, kind, objective, period, threshold_ms, matchers, enabled FROM ops.slos ORDER BY slo;

-- Bad objectives are refused with the field and the rule.
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective) VALUES ('bad', 'availability', 1.0)$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective) VALUES ('bad', 'availability', 0)$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective) VALUES ('bad', 'availability', 'NaN')$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective) VALUES ('bad', 'uptime', 0.9)$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective, period) VALUES ('bad', 'availability', 0.9, '0')$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective, period) VALUES ('bad', 'availability', 0.9, '-1 day')$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective, period) VALUES ('bad', 'availability', 0.9, '401 days')$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective) VALUES ('bad', 'latency', 0.9)$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective, threshold_ms) VALUES ('bad', 'latency', 0.9, 0)$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective, threshold_ms) VALUES ('bad', 'error_rate', 0.9, 200)$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective, matchers) VALUES ('bad', 'availability', 0.9, '[{"name": "x", "op": "=~", "value": "["}]')$$);
SELECT pg_temp.try($$INSERT INTO ops.slos (slo, kind, objective) VALUES ('Bad Name', 'availability', 0.9)$$);
SELECT pg_temp.try($$UPDATE ops.slos SET objective = 1 WHERE slo = 'availability'$$);
SELECT count(*) AS nothing_written FROM ops.slos WHERE slo IN ('bad', 'Bad Name');

-- Availability of the checks labelled team=obj over an hour: obj.a was up once, down twice and
-- unknown twice; obj.b down twice and up once. Unknown runs are left out and reported.
INSERT INTO ops.slos (slo, kind, objective, period, matchers)
VALUES ('obj.availability', 'availability', 0.9, '1 hour', '[{"name": "team", "op": "=", "value": "obj"}]');
SELECT slo, good, total, unknown, round(attainment::numeric, 6) AS attainment,
       round(error_budget_remaining::numeric, 6) AS error_budget_remaining
  FROM ops.slo_status('2026-09-10 12:00Z') WHERE slo = 'obj.availability';
-- Maintenance on obj.b from 11:50 to 11:51:30 takes its two downs out.
INSERT INTO ops.maintenance_windows (matchers, starts_at, ends_at, reason)
VALUES ('[{"name": "check_id", "op": "=", "value": "obj.b"}]', '2026-09-10 11:50Z', '2026-09-10 11:51:30Z', 'obj test');
SELECT slo, good, total, unknown, round(attainment::numeric, 6) AS attainment,
       round(error_budget_remaining::numeric, 6) AS error_budget_remaining
  FROM ops.slo_status('2026-09-10 12:00Z') WHERE slo = 'obj.availability';
SELECT round(ops.slo_burn_rate('obj.availability', '1 hour', '2026-09-10 12:00Z')::numeric, 6) AS burn_1h,
       ops.slo_burn_rate('obj.availability', '1 minute', '2026-09-10 11:57Z') AS burn_no_results;

-- Requests, through the log and the rollups:
--   11:55 /expenses   100 requests, 1 answered 500, 10 slower than 200 ms
--   11:56 /expenses   100 requests, all 2xx in 20 ms
--   11:57 /rpc/login   50 requests, 5 answered 503, all in 300 ms
--   11:59 /expenses    10 requests, all 500 in 1000 ms
--   12:00 /expenses    20 requests, all 500 in 1000 ms
SELECT count(*) AS rejected FROM ops.ingest_requests((
  SELECT jsonb_agg(jsonb_build_object('at', r.at, 'method', 'GET', 'route', r.route, 'status', r.status, 'duration_ms', r.ms))
    FROM (SELECT '2026-09-10 11:55Z'::timestamptz + i * interval '0.5 second' AS at, '/expenses' AS route,
                 CASE WHEN i = 1 THEN 500 ELSE 200 END AS status, CASE WHEN i <= 10 THEN 500 ELSE 50 END AS ms
            FROM generate_series(1, 100) i
          UNION ALL
          SELECT '2026-09-10 11:56Z'::timestamptz + i * interval '0.5 second', '/expenses', 200, 20 FROM generate_series(1, 100) i
          UNION ALL
          SELECT '2026-09-10 11:57Z'::timestamptz + i * interval '1 second', '/rpc/login',
                 CASE WHEN i <= 5 THEN 503 ELSE 200 END, 300 FROM generate_series(1, 50) i
          UNION ALL
          SELECT '2026-09-10 11:59Z'::timestamptz + i * interval '1 second', '/expenses', 500, 1000 FROM generate_series(1, 10) i
          UNION ALL
          SELECT '2026-09-10 12:00Z'::timestamptz + i * interval '1 second', '/expenses', 500, 1000 FROM generate_series(1, 20) i) r),
  '2026-09-10 12:01Z');
SELECT FROM ops.rollup_requests('2026-09-10 12:01Z');
SELECT minute, route, requests, status_5xx, ops.sketch_count_below(latency, 200) AS faster_than_200_ms
  FROM ops.request_rollups WHERE minute >= '2026-09-10 11:50Z' ORDER BY minute, route;

-- At 12:00:30 the period ends where the minute 12:00 starts: 260 requests, 16 of them 5xx and
-- 70 slower than 200 ms.
SELECT slo, objective, good, total, round(attainment::numeric, 6) AS attainment,
       round(error_budget_remaining::numeric, 6) AS error_budget_remaining, kind, period, unknown
  FROM ops.slo_status('2026-09-10 12:00:30Z') WHERE slo IN ('error_rate', 'latency_p95');
-- At 12:01 the minute 12:00 is whole: 20 more requests, all bad.
SELECT slo, good, total FROM ops.slo_status('2026-09-10 12:01Z') WHERE slo IN ('error_rate', 'latency_p95');

-- Burn rates over the windows of multi-window alerts.
SELECT round(ops.slo_burn_rate('error_rate', '5 minutes', '2026-09-10 12:00:30Z')::numeric, 6) AS error_5m,
       round(ops.slo_burn_rate('error_rate', '1 hour', '2026-09-10 12:01Z')::numeric, 6) AS error_1h,
       round(ops.slo_burn_rate('error_rate', '1 minute', '2026-09-10 11:58:10Z')::numeric, 6) AS error_login_minute,
       round(ops.slo_burn_rate('latency_p95', '1 minute', '2026-09-10 11:56:30Z')::numeric, 6) AS latency_1155,
       ops.slo_burn_rate('latency_p95', '1 minute', '2026-09-10 11:59Z') AS no_requests;
-- An objective on one route: /rpc/login answered 45 of 50 without a 5xx.
INSERT INTO ops.slos (slo, kind, objective, period, matchers)
VALUES ('obj.login', 'error_rate', 0.99, '1 hour', '[{"name": "route", "op": "=", "value": "/rpc/login"}]');
SELECT slo, good, total, round(error_budget_remaining::numeric, 6) AS error_budget_remaining
  FROM ops.slo_status('2026-09-10 12:01Z') WHERE slo = 'obj.login';
SELECT round(ops.slo_burn_rate('obj.login', '1 hour', '2026-09-10 12:01Z')::numeric, 6) AS login_burn_1h;
-- Disabled objectives are left out of the status, but can still be asked about.
UPDATE ops.slos SET enabled = false WHERE slo = 'obj.login';
SELECT count(*) AS disabled_in_status FROM ops.slo_status('2026-09-10 12:01Z') WHERE slo = 'obj.login';

SELECT pg_temp.try($$SELECT ops.slo_burn_rate('nope', '1 hour', '2026-09-10 12:00Z')$$);
SELECT pg_temp.try($$SELECT ops.slo_burn_rate('error_rate', '0', '2026-09-10 12:00Z')$$);
SELECT pg_temp.try($$SELECT ops.slo_burn_rate('error_rate', '-5 minutes', '2026-09-10 12:00Z')$$);
SELECT pg_temp.try($$SELECT ops.slo_burn_rate('error_rate', NULL, '2026-09-10 12:00Z')$$);
SELECT pg_temp.try($$SELECT ops.slo_burn_rate('error_rate', '1 hour', NULL)$$);
SELECT pg_temp.try($$SELECT * FROM ops.slo_status(NULL)$$);

-- The sketch reader behind the latency objective.
SELECT ops.sketch_count_below(ops.latency_sketch(v), 200) AS below_200,
       ops.sketch_count_below(ops.latency_sketch(v), 0) AS below_0,
       ops.sketch_count_below(ops.latency_sketch(v), 'Infinity') AS below_infinity,
       ops.sketch_count_below(ops.latency_sketch(v), NULL) AS below_null
  FROM unnest(ARRAY[0, 5, 150, 199, 250, 1000]::double precision[]) v;
SELECT ops.sketch_count_below('v1;n=0', 10) AS empty;
SELECT pg_temp.try($$SELECT ops.sketch_count_below(ops.latency_sketch(1), 'NaN')$$);
SELECT pg_temp.try($$SELECT ops.sketch_count_below(ops.latency_sketch(1), -1)$$);

-- ---------------------------------------------------------------------------------------------
-- Tickets whose SLA clocks are at risk or breached.

CREATE FUNCTION pg_temp.open(kind text, priority text, opened_at timestamptz) RETURNS bigint
LANGUAGE sql AS $$
  INSERT INTO ops.tickets (kind, priority, title, reporter, opened_at)
  VALUES (kind, priority, kind || ' ' || priority, 'reporter@example.com', opened_at) RETURNING ticket_id
$$;
-- A P0 at 10:00: response due 10:15 (at risk from 10:11:15), resolution due 14:00 (from 13:00).
SELECT pg_temp.open('bug', 'P0', '2025-03-03 10:00Z') AS p0 \gset
-- A P1 at 10:00: response due 12:00 (at risk from 11:30); answered later.
SELECT pg_temp.open('bug', 'P1', '2025-03-03 10:00Z') AS p1 \gset
-- A P2 support ticket at 10:00: response due the next day at 10:00; answered, resolved and
-- closed later.
SELECT pg_temp.open('support', 'P2', '2025-03-03 10:00Z') AS p2 \gset
SELECT at, ticket_id - :p0 AS ticket, priority, clock, state, since
  FROM unnest(ARRAY['2025-03-03 10:05Z', '2025-03-03 10:12Z', '2025-03-03 11:45Z', '2025-03-03 13:30Z',
                    '2025-03-04 12:00Z']::timestamptz[]) at
 CROSS JOIN LATERAL ops.sla_tickets_at_risk(at) r
 WHERE r.ticket_id IN (:p0, :p1, :p2)
 ORDER BY at, state DESC, since, ticket_id, clock;
-- Answering the P1 stops its response clock; the P2's clocks stop as it is answered and resolved.
-- A moment before, they were still listed.
UPDATE ops.tickets SET state = 'Triage' WHERE ticket_id = :p1;
UPDATE ops.tickets SET state = 'Open' WHERE ticket_id = :p2;
UPDATE ops.tickets SET state = 'Waiting on customer' WHERE ticket_id = :p2;
UPDATE ops.tickets SET state = 'Resolved' WHERE ticket_id = :p2;
UPDATE ops.tickets SET state = 'Closed' WHERE ticket_id = :p2;
SELECT ticket_id - :p0 AS ticket, priority, clock, state, since
  FROM ops.sla_tickets_at_risk() WHERE ticket_id IN (:p0, :p1, :p2)
 ORDER BY state DESC, since, ticket_id, clock;
SELECT ticket_id - :p0 AS ticket, clock, state, since
  FROM ops.sla_tickets_at_risk((SELECT first_response_at - interval '1 millisecond' FROM ops.tickets WHERE ticket_id = :p1))
 WHERE ticket_id = :p1 ORDER BY clock;
SELECT ticket_id - :p0 AS ticket, clock, state, since
  FROM ops.sla_tickets_at_risk((SELECT resolved_at - interval '1 millisecond' FROM ops.tickets WHERE ticket_id = :p2))
 WHERE ticket_id = :p2 ORDER BY clock;
SELECT pg_temp.try($$SELECT * FROM ops.sla_tickets_at_risk(NULL)$$);

-- ---------------------------------------------------------------------------------------------
-- The trigger trusts nothing about its call site.
CREATE TEMP TABLE lookalike_slos (slo text, kind text, objective double precision, period interval, threshold_ms double precision);
CREATE TRIGGER validate BEFORE INSERT ON lookalike_slos FOR EACH ROW EXECUTE FUNCTION ops.validate_slo();
SELECT pg_temp.try($$INSERT INTO lookalike_slos VALUES ('x', 'latency', 2, '0', NULL)$$);

-- ---------------------------------------------------------------------------------------------
-- Who may do what: operator roles only. The worker samples statements and reads everything the
-- alert rules need; an admin edits objectives; tenants get nothing.
SET ROLE expense_ops_worker;
SELECT ops.sample_statements('2026-09-10 12:05Z') AS worker_samples;
SELECT count(*) AS worker_reads_status FROM ops.slo_status('2026-09-10 12:00Z');
SELECT ops.slo_burn_rate('error_rate', '1 hour', '2026-09-10 12:00Z') IS NOT NULL AS worker_reads_burn_rate;
SELECT count(*) AS worker_reads_failures FROM ops.consecutive_failures('2026-09-10 12:00Z') WHERE check_id LIKE 'obj.%';
SELECT count(*) AS worker_reads_slow FROM ops.slow_statements('2026-09-10 11:00Z', '2026-09-10 12:00Z');
SELECT used >= 1 AS worker_reads_connections FROM ops.connection_usage();
SELECT ops.standby_count() AS worker_reads_standbys, (SELECT count(*) FROM ops.replication_metrics()) AS replicas;
SELECT count(*) >= 0 AS worker_reads_tickets_at_risk FROM ops.sla_tickets_at_risk();
SELECT pg_temp.try($$UPDATE ops.slos SET objective = 0.9 WHERE slo = 'error_rate'$$);
SELECT pg_temp.try($$SELECT ops.health_db_detail()$$);
RESET ROLE;
SET ROLE expense_ops_admin;
UPDATE ops.slos SET objective = 0.99 WHERE slo = 'error_rate';
SELECT slo, objective FROM ops.slo_status('2026-09-10 12:00:30Z') WHERE slo = 'error_rate';
SELECT count(*) AS admin_reads_samples FROM ops.statement_samples;
SELECT pg_temp.try($$INSERT INTO ops.statement_samples VALUES (now(), 1, 1, true, 'x', 1, 1)$$);
RESET ROLE;
SET ROLE expense_user;
SELECT pg_temp.try($$SELECT * FROM ops.slo_status()$$);
SELECT pg_temp.try($$SELECT * FROM ops.slos$$);
SELECT pg_temp.try($$SELECT * FROM ops.connection_usage()$$);
SELECT pg_temp.try($$SELECT ops.sample_statements()$$);
RESET ROLE;
SELECT has_function_privilege('public', 'ops.health_db_detail()', 'EXECUTE') AS public_reads_health_detail,
       has_function_privilege('expense_ops_admin', 'ops.slo_events(ops.slos, timestamptz, timestamptz)', 'EXECUTE') AS admin_calls_internal,
       has_function_privilege('public', 'ops.statement_stats_schema()', 'EXECUTE') AS public_finds_statements;
