-- Monitoring data: checks, their results, the request log, rollups and partitions, all driven
-- by explicit instants.
CREATE EXTENSION IF NOT EXISTS expense_ops;
SET client_min_messages = warning;
SET TIME ZONE 'UTC';

-- The plan's checks are seeded, and the base URL is one setting.
SELECT check_id, kind, target, method, expected_status, credentials, every, enabled FROM ops.checks ORDER BY check_id;
SELECT base_url FROM ops.monitoring_settings;

-- A check may not hold a secret, and each kind keeps to its own fields.
INSERT INTO ops.checks (check_id, kind, target, method, expected_status, every, headers)
VALUES ('bad.secret', 'http', '/x', 'GET', 200, '1 minute', '{"Authorization": "Bearer abc"}');
INSERT INTO ops.checks (check_id, kind, target, method, expected_status, every, headers)
VALUES ('bad.cookie', 'http', '/x', 'GET', 200, '1 minute', '{"cookie": "session=1"}');
INSERT INTO ops.checks (check_id, kind, target, every) VALUES ('bad.tcp', 'tcp', 'no-port', '1 minute');
INSERT INTO ops.checks (check_id, kind, target, every, method) VALUES ('bad.db', 'db', 'primary', '1 minute', 'GET');
INSERT INTO ops.checks (check_id, kind, target, every) VALUES ('bad.http', 'http', '/x', '1 minute');
INSERT INTO ops.checks (check_id, kind, target, every, timeout) VALUES ('bad.timeout', 'sql', 'SELECT true', '10 seconds', '1 minute');
INSERT INTO ops.checks (check_id, kind, target, every, labels) VALUES ('bad.labels', 'sql', 'SELECT true', '1 minute', '{"a": 1}');
INSERT INTO ops.checks (check_id, kind, target, every) VALUES ('Bad Name', 'sql', 'SELECT true', '1 minute');
INSERT INTO ops.checks (check_id, kind, target, every) VALUES ('probe.ok', 'sql', 'SELECT true', '1 minute');
INSERT INTO ops.checks (check_id, kind, target, every) VALUES ('tcp.api', 'tcp', '127.0.0.1:3000', '1 minute');

-- Partitions: made for the day of `at` and the next three, idempotently.
SELECT parent, partition, action FROM ops.maintain_partitions('2026-06-10 12:00Z') ORDER BY parent::text, partition;
SELECT count(*) AS second_run_does_nothing FROM ops.maintain_partitions('2026-06-10 13:00Z');

-- Check results: one batch with good and bad rows; the bad ones come back with index and reason.
SELECT * FROM ops.record_check_results($$[
  {"check_id": "health", "started_at": "2026-06-10T11:59:30Z", "duration_ms": 12.5, "outcome": "up", "status": 200,
   "timings": {"dns": 0.1, "connect": 0.3, "first_byte": 11.0, "total": 12.5}, "worker": "w1"},
  {"check_id": "health", "started_at": "2026-06-10T12:00:00Z", "duration_ms": 5000, "outcome": "down",
   "detail": "timeout after 5 s", "worker": "w1"},
  {"check_id": "health", "started_at": "2026-06-10T12:00:30Z", "outcome": "unknown", "detail": "worker_down"},
  {"check_id": "health", "started_at": "2026-06-10T12:01:00Z", "outcome": "unknown"},
  {"check_id": "nope", "started_at": "2026-06-10T12:00:00Z", "outcome": "up"},
  {"check_id": "health", "started_at": "2026-06-10T12:00:00Z", "duration_ms": "NaN", "outcome": "up"},
  {"check_id": "health", "started_at": "2026-06-10T12:00:00Z", "duration_ms": -1, "outcome": "up"},
  {"check_id": "health", "started_at": "2026-06-10T12:00:00Z", "outcome": "degraded"},
  {"check_id": "health", "started_at": "2026-05-01T00:00:00Z", "outcome": "up"},
  {"check_id": "health", "started_at": "2026-06-10T13:00:00Z", "outcome": "up"},
  {"check_id": "health", "started_at": "yesterday", "outcome": "up"},
  "not an object",
  {"check_id": "database", "started_at": "2026-06-09T23:59:59.5+00:00", "duration_ms": 1.5, "outcome": "up"}
]$$, '2026-06-10 12:01:30Z');
SELECT check_id, started_at, duration_ms, outcome, status, detail, timings, worker, recorded_at
  FROM ops.check_results ORDER BY started_at;
-- The day before `at` had no partition: the batch made it.
SELECT tableoid::regclass AS partition, count(*) FROM ops.check_results GROUP BY 1 ORDER BY 1;
-- The same batch again (a worker retrying) records nothing twice.
SELECT count(*) AS rejected FROM ops.record_check_results(
  '[{"check_id": "health", "started_at": "2026-06-10T11:59:30Z", "duration_ms": 99, "outcome": "down"}]',
  '2026-06-10 12:02:00Z');
SELECT duration_ms, outcome FROM ops.check_results WHERE started_at = '2026-06-10T11:59:30Z';
SELECT * FROM ops.record_check_results('{"check_id": "health"}');
SELECT * FROM ops.record_check_results(NULL);

-- Requests, as JSON: bad rows rejected with index and reason, the rest kept.
SELECT * FROM ops.ingest_requests($$[
  {"at": "2026-06-10T11:58:10Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": 12.5,
   "org_id": "00000000-0000-0000-0000-0000000000a1", "user_id": "00000000-0000-0000-0000-000000000001"},
  {"at": "2026-06-10T11:58:20Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": 30},
  {"at": "2026-06-10T11:58:40Z", "method": "POST", "route": "/rpc/login", "status": 403, "duration_ms": 35, "sqlstate": "28P01"},
  {"at": "2026-06-10T11:59:05Z", "method": "GET", "route": "/expenses", "status": 500, "duration_ms": 900, "sqlstate": "XX000"},
  {"at": "2026-06-10T11:59:06Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": "NaN"},
  {"at": "2026-06-10T11:59:07Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": "Infinity"},
  {"at": "2026-06-10T11:59:08Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": -3},
  {"at": "2026-06-10T11:59:09Z", "method": "GET", "route": "/expenses", "status": 700, "duration_ms": 3},
  {"at": "2026-06-10T11:59:10Z", "method": "BREW", "route": "/expenses", "status": 200, "duration_ms": 3},
  {"at": "2026-06-10T11:59:11Z", "method": "GET", "route": "expenses", "status": 200, "duration_ms": 3},
  {"at": "2026-06-10T11:59:12Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": 3, "org_id": "acme"},
  {"at": "2026-05-01T00:00:00Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": 3},
  {"method": "GET", "route": "/expenses", "status": 200, "duration_ms": 3},
  {"at": "2026-06-10T12:00:01Z", "method": "GET", "route": "/expenses", "status": 200, "duration_ms": 7}
]$$, '2026-06-10 12:00:30Z');
SELECT at, method, route, status, duration_ms, sqlstate, org_id, user_id FROM ops.request_log ORDER BY at;
SELECT minute FROM ops.request_minutes_to_roll ORDER BY minute;

-- Requests by COPY into the staging table, then checked and moved.
COPY ops.request_staging (at, method, route, status, duration_ms, sqlstate, org_id, user_id) FROM STDIN (FORMAT csv);
2026-06-10T11:58:50Z,GET,/expenses,200,15,,,
2026-06-10T11:58:55Z,GET,/expenses,404,2,,,
2026-06-10T11:58:56Z,GET,/expenses,abc,2,,,
2026-06-10T11:58:57Z,GET,/rpc/health,200,1.25,,,
\.
SELECT * FROM ops.load_request_staging('2026-06-10 12:00:40Z');
SELECT count(*) AS staging_left FROM ops.request_staging;
SELECT count(*) AS requests FROM ops.request_log;

-- Metrics over any period: from the log alone before the rollup...
CREATE TEMP TABLE metrics_before AS SELECT * FROM ops.request_metrics('2026-06-10 11:58Z', '2026-06-10 12:01Z');
SELECT route, requests, round(per_second::numeric, 4) AS per_second, round(rate_4xx::numeric, 3) AS rate_4xx,
       round(rate_5xx::numeric, 3) AS rate_5xx, round(p50_ms::numeric, 3) AS p50_ms, round(p95_ms::numeric, 3) AS p95_ms,
       round(p99_ms::numeric, 3) AS p99_ms
  FROM metrics_before;
SELECT route, requests, round(p50_ms::numeric, 3) AS p50_ms, round(p99_ms::numeric, 3) AS p99_ms
  FROM ops.request_metrics('2026-06-10 11:58:30Z', '2026-06-10 12:01Z', '/expenses');
SELECT * FROM ops.request_metrics('2026-06-10 12:00Z', '2026-06-10 11:00Z');

-- Rollups: complete minutes only, per route, with counts and a sketch.
SELECT * FROM ops.rollup_requests('2026-06-10 12:00:45Z');
SELECT minute, route, requests, status_2xx, status_4xx, status_5xx, ops.sketch_count(latency),
       ops.sketch_min(latency), ops.sketch_max(latency)
  FROM ops.request_rollups ORDER BY minute, route;
SELECT minute AS still_to_roll FROM ops.request_minutes_to_roll ORDER BY minute;
-- ...and the same answer from the rollups after it.
SELECT m.route, m.requests = b.requests AND m.rate_4xx = b.rate_4xx AND m.rate_5xx = b.rate_5xx
       AND m.p50_ms = b.p50_ms AND m.p95_ms = b.p95_ms AND m.p99_ms = b.p99_ms AS same_after_rollup
  FROM ops.request_metrics('2026-06-10 11:58Z', '2026-06-10 12:01Z') m JOIN metrics_before b USING (route)
 ORDER BY m.route;
-- Running it again writes nothing.
SELECT * FROM ops.rollup_requests('2026-06-10 12:00:45Z');
-- A late row re-opens its minute, which is rebuilt whole.
SELECT * FROM ops.ingest_requests(
  '[{"at": "2026-06-10T11:58:30Z", "method": "GET", "route": "/expenses", "status": 502, "duration_ms": 60}]',
  '2026-06-10 12:05:00Z');
SELECT * FROM ops.rollup_requests('2026-06-10 12:05:00Z');
SELECT minute, route, requests, status_2xx, status_4xx, status_5xx, ops.sketch_count(latency), ops.sketch_max(latency)
  FROM ops.request_rollups ORDER BY minute, route;
-- Hours are merges of minutes.
SELECT hour, route, requests, status_5xx, ops.sketch_count(latency) FROM ops.request_rollups_hourly ORDER BY 1, 2;
SELECT day, route, requests FROM ops.request_rollups_daily ORDER BY 1, 2;

-- Error tracking: the categories, server errors from jsonlog, and the trends.
SELECT s AS sqlstate, h AS http_status, ops.classify_error(s, h) AS category
  FROM (VALUES ('28P01', NULL), ('42501', 403), ('23505', 409), ('22X01', 400), ('40P01', NULL),
               ('HV000', NULL), ('PT404', 404), ('00000', 401), (NULL, 401), (NULL, 404), (NULL, 502),
               (NULL, 503), (NULL, 500), ('nonsense', 429), (NULL, NULL)) v(s, h);
SELECT * FROM ops.ingest_errors($$[
  {"timestamp": "2026-06-10 11:58:30.120 UTC", "error_severity": "ERROR", "state_code": "23505",
   "message": "duplicate key value violates unique constraint \"categories_org_id_name_key\"",
   "detail": "Key (org_id, name)=(..., Travel) already exists.", "statement": "INSERT ... secret ...",
   "application_name": "PostgREST", "backend_type": "client backend"},
  {"timestamp": "2026-06-10 11:59:00.000 UTC", "error_severity": "FATAL", "state_code": "28P01",
   "message": "password authentication failed for user \"x\""},
  {"timestamp": "2026-06-10 11:59:10.000 UTC", "error_severity": "LOG", "message": "checkpoint starting"},
  {"timestamp": "2026-06-10 11:59:20.000 UTC", "error_severity": "ERROR", "state_code": "??", "message": "x"},
  {"timestamp": "2026-06-10 11:59:20.000 CET", "error_severity": "ERROR", "message": "x"},
  {"timestamp": "2026-06-10 11:59:30.000 UTC", "error_severity": "ERROR", "message": ""},
  {"timestamp": "2026-06-10 11:59:40.000 UTC", "error_severity": "BOOM", "message": "x"},
  {"timestamp": "2026-06-10 11:45:00.000 UTC", "error_severity": "ERROR", "state_code": "23505", "message": "earlier"},
  {"timestamp": "2026-06-10 11:46:00.000 UTC", "error_severity": "ERROR", "state_code": "53300", "message": "too many connections"}
]$$, '2026-06-10 12:00:30Z');
SELECT at, source, severity, sqlstate, category, message, application, backend FROM ops.error_events ORDER BY at;
-- Errors of the last 10 minutes before 12:00 against the 10 before: the requests that failed and
-- the server's errors, by category, SQLSTATE and route.
SELECT * FROM ops.error_trends('10 minutes', '2026-06-10 12:00Z');
SELECT * FROM ops.error_trends('0 seconds', '2026-06-10 12:00Z');
SELECT * FROM ops.ingest_errors('{}');

-- Label matchers, as Alertmanager has them.
SELECT ops.labels_match('[{"name": "route", "op": "=~", "value": "/rpc/.*"}]', '{"route": "/rpc/login"}') AS regex_matches,
       ops.labels_match('[{"name": "route", "op": "=~", "value": "/rpc"}]', '{"route": "/rpc/login"}') AS anchored,
       ops.labels_match('[{"name": "team", "op": "=", "value": ""}]', '{"route": "/x"}') AS missing_is_empty,
       ops.labels_match('[{"name": "route", "op": "!~", "value": "/rpc/.*"}, {"name": "service", "op": "!=", "value": "db"}]',
                        '{"route": "/expenses", "service": "api"}') AS all_of_them,
       ops.labels_match('[]', '{"a": "b"}') AS none_match_all;
SELECT ops.labels_match('[{"name": "route", "op": "=~", "value": "("}]', '{}');
SELECT ops.labels_match('[{"name": "route", "op": "==", "value": "x"}]', '{}');
SELECT ops.labels_match('[{"name": "", "op": "=", "value": "x"}]', '{}');
SELECT ops.labels_match('[{"name": "route", "op": "="}]', '{}');
SELECT ops.labels_match('[{"name": "route", "op": "=", "value": 1}]', '{}');
SELECT ops.labels_match('{"name": "route"}', '{}');
SELECT ops.labels_match('[]', '{"a": 1}');
SELECT ops.labels_match('[]', '[]');

-- Maintenance windows, and uptime per day: a 10-minute check, two hours of results, a failure,
-- a gap, and a maintenance window whose failures do not count.
INSERT INTO ops.checks (check_id, kind, target, every, labels) VALUES ('uptime.demo', 'sql', 'SELECT true', '10 minutes', '{"service": "demo"}');
INSERT INTO ops.maintenance_windows (matchers, starts_at, ends_at, author, reason)
VALUES ('[{"name": "check_id", "op": "=", "value": "uptime.demo"}]', '2026-06-10 01:10Z', '2026-06-10 01:30Z', 'ana', 'upgrade');
INSERT INTO ops.maintenance_windows (matchers, starts_at, ends_at, reason)
VALUES ('[{"name": "service", "op": "=", "value": "other"}]', '2026-06-10 00:00Z', '2026-06-10 02:00Z', 'not this check');
INSERT INTO ops.maintenance_windows (matchers, starts_at, ends_at, reason)
VALUES ('[{"name": "x", "op": "=~", "value": "["}]', '2026-06-10 03:00Z', '2026-06-10 04:00Z', 'bad');
\set VERBOSITY terse
INSERT INTO ops.maintenance_windows (matchers, starts_at, ends_at, reason)
VALUES ('[]', '2026-06-10 03:00Z', '2026-06-10 02:00Z', 'backwards');
\set VERBOSITY default
SELECT count(*) AS rejected FROM ops.record_check_results($$[
  {"check_id": "uptime.demo", "started_at": "2026-06-10T00:00:05Z", "outcome": "up", "duration_ms": 1},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T00:10:05Z", "outcome": "up", "duration_ms": 1},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T00:20:05Z", "outcome": "down", "detail": "false"},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T00:30:05Z", "outcome": "down", "detail": "false"},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T00:40:05Z", "outcome": "up", "duration_ms": 1},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T01:00:05Z", "outcome": "up", "duration_ms": 1},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T01:10:05Z", "outcome": "down", "detail": "maintenance"},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T01:20:05Z", "outcome": "down", "detail": "maintenance"},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T01:30:05Z", "outcome": "up", "duration_ms": 1},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T01:40:05Z", "outcome": "up", "duration_ms": 1},
  {"check_id": "uptime.demo", "started_at": "2026-06-10T01:50:05Z", "outcome": "up", "duration_ms": 1}
]$$, '2026-06-10 02:00Z');
SELECT * FROM ops.uptime_daily('uptime.demo', 2, '2026-06-10 02:00Z');
SELECT * FROM ops.uptime_daily('no.such.check', 2, '2026-06-10 02:00Z');
SELECT * FROM ops.uptime_daily('uptime.demo', 0, '2026-06-10 02:00Z');

-- Host samples: the worker writes them, the metrics read them.
SET ROLE expense_ops_worker;
INSERT INTO ops.host_samples (host, at, cpu_percent, memory_percent, load1, load5, load15, disk_percent, worker_rss_bytes)
VALUES ('db1', '2026-06-10 11:58:00Z', 35.5, 61.2, 0.8, 0.7, 0.6, 42.0, 25000000),
       ('db1', '2026-06-10 11:58:15Z', 92.0, 63.0, 1.9, 0.9, 0.6, 42.0, 26000000),
       ('app1', '2026-06-10 11:58:15Z', 10.0, 30.0, 0.1, 0.1, 0.1, 10.0, NULL);
INSERT INTO ops.host_samples (host, at, cpu_percent) VALUES ('db1', '2026-06-10 11:58:30Z', 120);
INSERT INTO ops.host_samples (host, at, load1) VALUES ('db1', '2026-06-10 11:58:45Z', 'NaN');
RESET ROLE;
SELECT * FROM ops.host_metrics('2026-06-10 11:00Z', '2026-06-10 12:00Z');
SELECT * FROM ops.host_metrics('2026-06-10 12:00Z', '2026-06-10 12:00Z');

-- A COPY straight into the log marks its minutes too, once each per transaction, and a mark
-- written in a subtransaction that rolls back goes with it.
COPY ops.request_log (at, method, route, status, duration_ms) FROM STDIN (FORMAT csv);
2026-06-10T12:03:10Z,GET,/rpc/health,200,2
2026-06-10T12:03:50Z,GET,/rpc/health,200,3
\.
SELECT minute AS to_roll_after_copy FROM ops.request_minutes_to_roll ORDER BY minute;
BEGIN;
INSERT INTO ops.request_log (at, method, route, status, duration_ms)
VALUES ('2026-06-10 12:04:10Z', 'GET', '/rpc/health', 200, 2);
SAVEPOINT before_late_row;
INSERT INTO ops.request_log (at, method, route, status, duration_ms)
VALUES ('2026-06-10 12:05:10Z', 'GET', '/rpc/health', 200, 2);
ROLLBACK TO before_late_row;
SELECT minute AS marked_in_transaction FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:04Z' ORDER BY minute;
INSERT INTO ops.request_log (at, method, route, status, duration_ms)
VALUES ('2026-06-10 12:05:20Z', 'GET', '/rpc/health', 200, 2), ('2026-06-10 12:04:50Z', 'GET', '/rpc/health', 200, 2);
SELECT minute AS marked_after_rollback FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:04Z' ORDER BY minute;
ROLLBACK;
SELECT count(*) AS marks_after_abort FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:04Z';
-- A rollup in the same transaction clears the marks; rows that come after it mark again.
BEGIN;
INSERT INTO ops.request_log (at, method, route, status, duration_ms)
VALUES ('2026-06-10 12:04:10Z', 'GET', '/rpc/health', 200, 2);
SELECT minutes FROM ops.rollup_requests('2026-06-10 12:10Z');
INSERT INTO ops.request_log (at, method, route, status, duration_ms)
VALUES ('2026-06-10 12:04:40Z', 'GET', '/rpc/health', 200, 3);
SELECT minute AS marked_again FROM ops.request_minutes_to_roll ORDER BY minute;
ROLLBACK;
-- The trigger that says so fires on the marks alone.
CREATE TEMP TABLE fake_marks (minute timestamptz);
CREATE TRIGGER forget AFTER DELETE ON fake_marks FOR EACH STATEMENT EXECUTE FUNCTION ops.forget_minute_marks();
DELETE FROM fake_marks;
-- Straight into a partition, by a role that has no right to the marks: still marked.
CREATE ROLE monitoring_loader;
GRANT USAGE ON SCHEMA ops TO monitoring_loader;
GRANT INSERT ON ops.request_log_20260610 TO monitoring_loader;
GRANT EXECUTE ON FUNCTION ops.request_is_valid(text, text, integer, double precision, text) TO monitoring_loader;
SET ROLE monitoring_loader;
INSERT INTO ops.request_log_20260610 (at, method, route, status, duration_ms)
VALUES ('2026-06-10 12:06:01Z', 'GET', '/rpc/health', 200, 2);
SELECT count(*) FROM ops.request_minutes_to_roll;
RESET ROLE;
SELECT minute AS marked_by_partition_insert FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:06Z';
DELETE FROM ops.request_log WHERE at = '2026-06-10 12:06:01Z';
DELETE FROM ops.request_minutes_to_roll WHERE minute = '2026-06-10 12:06Z';
REVOKE ALL ON ops.request_log_20260610 FROM monitoring_loader;
REVOKE ALL ON FUNCTION ops.request_is_valid(text, text, integer, double precision, text) FROM monitoring_loader;
REVOKE USAGE ON SCHEMA ops FROM monitoring_loader;
DROP ROLE monitoring_loader;

-- A row that skips the loading functions is held to their rules by the log's CHECK.
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'GET', '/x', 200, 'NaN');
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'GET', '/x', 200, -1);
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'GET', '/x', 200, 'Infinity');
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'BREW', '/x', 200, 1);
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'GET', 'x', 200, 1);
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'GET', '/x' || chr(10), 200, 1);
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'GET', '/' || repeat('x', 200), 200, 1);
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'GET', '/x', 600, 1);
INSERT INTO ops.request_log (at, method, route, status, duration_ms, sqlstate) VALUES ('2026-06-10 12:07Z', 'GET', '/x', 500, 1, 'oops!');
-- A route long enough to be compressed is read whole (and refused).
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES ('2026-06-10 12:07Z', 'GET', '/' || repeat('x', 100000), 200, 1);
SELECT count(*) AS refused_rows_kept FROM ops.request_log WHERE at = '2026-06-10 12:07Z';
-- A valid route that arrives as a pointer to a value stored out of line (INSERT ... SELECT from a
-- table that keeps it in TOAST) is read whole, and kept.
CREATE TEMP TABLE wide_source (route text, padding text);
ALTER TABLE wide_source ALTER COLUMN route SET STORAGE EXTERNAL, ALTER COLUMN padding SET STORAGE PLAIN;
INSERT INTO wide_source VALUES ('/' || repeat('r', 150), repeat('p', 7000));
INSERT INTO ops.request_log (at, method, route, status, duration_ms)
SELECT '2026-06-10 12:08Z', 'GET', route, 200, 1 FROM wide_source;
SELECT length(route) AS toasted_route_kept FROM ops.request_log WHERE at = '2026-06-10 12:08Z';
-- Rows changed or deleted mark their minutes again, old and new: an update that leaves `at`
-- alone never reaches an index.
DELETE FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:08Z';
UPDATE ops.request_log SET route = '/short' WHERE at = '2026-06-10 12:08Z';
UPDATE ops.request_log SET at = '2026-06-10 12:09:30Z' WHERE at = '2026-06-10 12:08Z';
SELECT DISTINCT minute AS marked_by_updates FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:08Z' ORDER BY 1;
DELETE FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:08Z';
DELETE FROM ops.request_log WHERE at = '2026-06-10 12:09:30Z';
SELECT minute AS marked_by_delete FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:08Z' ORDER BY 1;
DELETE FROM ops.request_minutes_to_roll WHERE minute >= '2026-06-10 12:08Z';
CREATE TEMP TABLE fake_rows (at timestamptz);
INSERT INTO fake_rows VALUES ('2026-06-10 12:00Z');
CREATE TRIGGER mark AFTER DELETE ON fake_rows FOR EACH ROW EXECUTE FUNCTION ops.mark_changed_minutes();
DELETE FROM fake_rows;
SELECT ops.request_is_valid('GET', '/x', 200, 0, NULL) AS valid, ops.request_is_valid('GET', '/x', 200, 0, '22P02') AS with_sqlstate,
       ops.request_is_valid(NULL, '/x', 200, 0, NULL) AS without_method;

-- The marking index serves the log alone: not a temp table, not another table's partitions,
-- not any column but at, not some of its rows. It answers no query.
CREATE TEMP TABLE fake_log (at timestamptz);
CREATE INDEX ON fake_log USING expense_ops_minute_marks (at);
CREATE TEMP TABLE fake_parent (LIKE ops.request_log) PARTITION BY RANGE (at);
CREATE INDEX ON fake_parent USING expense_ops_minute_marks (at);
CREATE TEMP TABLE fake_child PARTITION OF fake_parent FOR VALUES FROM ('2026-06-10') TO ('2026-06-11');
CREATE INDEX ON ops.request_log_20260610 USING expense_ops_minute_marks (((at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'));
CREATE INDEX ON ops.request_log_20260610 USING expense_ops_minute_marks (at) WHERE status >= 500;
CREATE INDEX ON ops.request_log_20260610 USING expense_ops_minute_marks (at) WITH (fillfactor = 50);
SELECT count(*) AS marks_unchanged FROM ops.request_minutes_to_roll;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ops.request_log WHERE at = '2026-06-10 12:03:10Z';
SELECT amvalidate(c.oid) FROM pg_opclass c WHERE c.opcname = 'minute_marks_timestamptz';
-- VACUUM and REINDEX go through it; REINDEX keeps the table's row count.
VACUUM ops.request_log_20260610;
REINDEX TABLE ops.request_log_20260610;
SELECT c.reltuples = (SELECT count(*) FROM ops.request_log_20260610) AS row_count_kept
  FROM pg_class c WHERE c.oid = 'ops.request_log_20260610'::regclass;

-- Retention: 40 days on, the check results' and requests' old days go, the rollups stay.
SELECT parent, count(*) FILTER (WHERE action = 'dropped') AS dropped, count(*) FILTER (WHERE action = 'created') AS created
  FROM ops.maintain_partitions('2026-07-20 00:00Z') GROUP BY 1 ORDER BY parent::text;
SELECT count(*) AS old_results FROM ops.check_results WHERE started_at < '2026-06-20';
SELECT count(*) AS old_requests FROM ops.request_log WHERE at < '2026-07-06';
SELECT count(*) AS rollups_kept FROM ops.request_rollups;

-- Who may do what: the worker writes through the functions, an admin edits checks, tenants
-- get nothing.
SET ROLE expense_user;
SELECT count(*) FROM ops.checks;
SELECT * FROM ops.ingest_requests('[]');
RESET ROLE;
SET ROLE expense_ops_worker;
SELECT count(*) AS worker_sees_checks FROM ops.checks;
SELECT count(*) AS rejected FROM ops.ingest_requests('[]');
INSERT INTO ops.checks (check_id, kind, target, every) VALUES ('worker.check', 'sql', 'SELECT true', '1 minute');
INSERT INTO ops.request_log (at, method, route, status, duration_ms) VALUES (now(), 'GET', '/x', 200, 1);
RESET ROLE;
SET ROLE expense_ops_admin;
UPDATE ops.checks SET enabled = false WHERE check_id = 'probe.ok';
SELECT count(*) AS admin_reads_results FROM ops.check_results;
RESET ROLE;
SELECT has_function_privilege('public', 'ops.ensure_partitions(regclass, timestamptz[])', 'EXECUTE') AS public_makes_partitions,
       has_function_privilege('public', 'ops.new_request_batch()', 'EXECUTE') AS public_makes_batches;
