-- make run's monitoring demo. SYNTHETIC: every check result, request and host sample below is
-- made up here, relative to the time of the load, so that the metrics, the uptime and the alerts
-- have something to show before the worker (issue 11) measures anything real. Alerts are then
-- evaluated minute by minute over the last 40 minutes, as the worker would have, so that:
--   * HealthCheckDown fires (the health check failed its last runs) and opens a P0 incident,
--     which pages (TicketPage);
--   * SlowResponses on /rpc/login is firing but inhibited by HealthCheckDown;
--   * HighCpu on db1 fires under a silence;
--   * HighMemory on db1 fired and resolved;
--   * the log channel's outbox holds their notifications.
SET client_min_messages = warning;

SELECT count(*) FROM generate_series(30, 0, -1) d, ops.maintain_partitions(now() - d * interval '1 day');

-- Thirty days of check results (the uptime objective's window): the health check every 30 s,
-- the others every minute. The
-- database check missed an hour two days ago (unknown, never up), the health check was down for
-- ten minutes yesterday, and has been failing for the last 38 minutes. A maintenance window covered
-- three hours of the endpoint checks three days ago.
INSERT INTO ops.check_results (check_id, started_at, duration_ms, outcome, status, detail)
SELECT c.check_id, t, 5 + (extract(epoch FROM t)::bigint % 40),
       CASE WHEN c.check_id = 'health' AND (t > now() - interval '38 minutes'
                                            OR t BETWEEN now() - interval '1 day 10 minutes' AND now() - interval '1 day')
            THEN 'down' ELSE 'up' END,
       CASE WHEN c.kind = 'http' THEN
         CASE WHEN c.check_id = 'health' AND (t > now() - interval '38 minutes'
                                              OR t BETWEEN now() - interval '1 day 10 minutes' AND now() - interval '1 day')
              THEN 503 ELSE 200 END END,
       CASE WHEN c.check_id = 'health' AND t > now() - interval '38 minutes' THEN 'HTTP 503 (synthetic)' END
  FROM ops.checks c
 CROSS JOIN LATERAL generate_series(date_trunc('minute', now() - interval '30 days'), now() - interval '5 seconds',
                                    CASE WHEN c.check_id = 'health' THEN interval '30 seconds' ELSE interval '1 minute' END) t
 WHERE NOT (c.check_id = 'database' AND t BETWEEN now() - interval '2 days 1 hour' AND now() - interval '2 days');
INSERT INTO ops.maintenance_windows (matchers, starts_at, ends_at, author, reason)
VALUES ('[{"name": "suite", "op": "=", "value": "endpoints"}]', date_trunc('hour', now() - interval '3 days'),
        date_trunc('hour', now() - interval '3 days') + interval '3 hours', 'demo', 'PostgreSQL minor upgrade (synthetic)');

-- The last 40 minutes of API traffic: /rpc/login slow (P95 near 700 ms), /rpc/submit_expense
-- answering 5xx to 2 % of requests, the rest quick.
SELECT count(*) FROM ops.ingest_requests((
  SELECT jsonb_agg(jsonb_build_object(
           'at', now() - interval '40 minutes' + i * interval '1 second',
           'method', CASE WHEN r.route LIKE '/rpc/%' THEN 'POST' ELSE 'GET' END,
           'route', r.route,
           'status', CASE WHEN r.route = '/rpc/submit_expense' AND i % 50 = 0 THEN 500
                          WHEN i % 37 = 0 THEN 404 ELSE 200 END,
           'duration_ms', CASE WHEN r.route = '/rpc/login' THEN 350 + (i * 7919 % 400)
                               ELSE 4 + (i * 7919 % 60) END))
    FROM generate_series(0, 2399) i
   CROSS JOIN (VALUES ('/expenses'), ('/rpc/login'), ('/rpc/submit_expense'), ('/rpc/health')) r(route)));
SELECT count(*) FROM ops.rollup_requests(now() - interval '1 minute');

-- Host samples every 15 s: db1's CPU is hot for the last 20 minutes, its memory was full from
-- 35 to 25 minutes ago.
INSERT INTO ops.host_samples (host, at, cpu_percent, memory_percent, load1, load5, load15, disk_percent, worker_rss_bytes)
SELECT 'db1', t,
       CASE WHEN t > now() - interval '20 minutes' THEN 91 + (extract(second FROM t)::integer % 5) ELSE 35 END,
       CASE WHEN t BETWEEN now() - interval '35 minutes' AND now() - interval '25 minutes' THEN 96 ELSE 55 END,
       1.2, 1.0, 0.9, 41, 24000000
  FROM generate_series(now() - interval '45 minutes', now(), interval '15 seconds') t;

-- Maintenance on db1's CPU was not planned, so someone silenced it.
INSERT INTO ops.silences (matchers, starts_at, ends_at, author, comment)
VALUES ('[{"name": "alertname", "op": "=", "value": "HighCpu"}, {"name": "host", "op": "=", "value": "db1"}]',
        now() - interval '30 minutes', now() + interval '2 hours', 'demo', 'reindexing expense_events (synthetic)');

-- The evaluations the worker would have run, a minute apart.
SELECT count(*) FROM (SELECT ops.evaluate_alerts(now() - m * interval '1 minute')
                        FROM generate_series(40, 0, -1) m) evaluations;

-- Not synthetic: make run's nginx (scripts/demo-nginx.conf), the live front the worker checks
-- every 10 s, so that stopping it fires HealthCheckDown after two failed runs. make run gives
-- its address (psql -v nginx_url=http://127.0.0.1:PORT); loaded without one, there is no nginx.
\if :{?nginx_url}
INSERT INTO ops.checks (check_id, kind, target, method, expected_status, expected_body, every, timeout, labels, description)
VALUES ('nginx', 'http', :'nginx_url' || '/health', 'GET', 200, '"status"', '10 seconds', '5 seconds',
        '{"service": "api", "route": "/health"}', 'make run''s nginx, the front of the API, answers /health');
\endif
