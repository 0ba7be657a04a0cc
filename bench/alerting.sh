#!/usr/bin/env bash
# ops.evaluate_alerts() with 1 000 rules. The rules watch host and request metrics of 10 hosts and
# 8 routes, each with a label filter, so that they make about 5 000 alerts, about half of them
# firing. Timed: the first evaluation (every alert is new), then steady evaluations a minute
# apart. The peer, in the same run: computing the same metric series alone (every distinct
# metric, window and quantile the rules name, through ops.metric_samples()), which is the floor
# any evaluation pays. The issue's bar: well under a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=$BENCH_DATABASE
rounds=${BENCH_ALERT_ROUNDS:-5}

psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
SET client_min_messages = warning;
SELECT count(*) FROM ops.maintain_partitions(now() - interval '1 hour');
SELECT count(*) FROM ops.maintain_partitions(now());
UPDATE ops.alert_rules SET enabled = false;
UPDATE ops.notification_channels SET enabled = (channel = 'log');
-- A sample of each host every 15 s for the last 10 minutes, and 20 000 requests on 8 routes.
INSERT INTO ops.host_samples (host, at, cpu_percent, memory_percent, load1, disk_percent, worker_rss_bytes)
SELECT 'host' || h, now() - s * interval '15 seconds', least(100, 10 * h - 5 + random() * 10), 9 * h, h * 0.5, 5 * h, 1e6 * h
  FROM generate_series(1, 10) h, generate_series(0, 40) s;
SELECT count(*) FROM ops.ingest_requests(
  (SELECT jsonb_agg(jsonb_build_object('at', now() - (i % 600) * interval '1 second',
                                       'method', 'GET', 'route', '/r' || (i % 8),
                                       'status', (ARRAY[200, 200, 200, 404, 500])[1 + i % 5],
                                       'duration_ms', 5 + (i % 300)))
     FROM generate_series(1, 20000) i));
INSERT INTO ops.alert_rules (rule, metric, "window", quantile, matchers, comparator, threshold, for_duration,
                             keep_firing_for, severity, summary)
SELECT 'Bench' || i, m.metric, m.span, m.quantile,
       jsonb_build_array(jsonb_build_object('name', m.label, 'op', '=~', 'value', m.pattern || '[' || (i % 2) * 5 || '-' || (i % 2) * 5 + 4 || ']')),
       '>', m.threshold * (0.2 + (i % 9) * 0.2), (i % 3) * interval '1 minute', interval '1 minute',
       (ARRAY['info', 'warning', 'high', 'critical'])[1 + i % 4], '{{ $labels.' || m.label || ' }} is at {{ $value }}'
  FROM generate_series(1, 1000) i
  JOIN (VALUES (0, 'host_cpu_percent', '1 minute'::interval, NULL::float8, 'host', 'host', 50),
               (1, 'host_memory_percent', '1 minute', NULL, 'host', 'host', 45),
               (2, 'host_load1', '1 minute', NULL, 'host', 'host', 2.5),
               (3, 'host_disk_percent', '5 minutes', NULL, 'host', 'host', 25),
               (4, 'request_latency_ms', '5 minutes', 0.95, 'route', '/r', 150),
               (5, 'request_error_ratio_5xx', '5 minutes', NULL, 'route', '/r', 0.1),
               (6, 'request_rate', '5 minutes', NULL, 'route', '/r', 4),
               (7, 'request_latency_ms', '5 minutes', 0.99, 'route', '/r', 150))
       AS m(k, metric, span, quantile, label, pattern, threshold) ON m.k = i % 8;
SQL

timed() {  # timed SQL: seconds the statement took, measured in the server
  psql -X -q -At -d "$db" <<SQL | tail -1
SELECT clock_timestamp() AS t0 \gset
$1
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3);
SQL
}

samples_sql="SELECT count(*) FROM (SELECT DISTINCT metric, coalesce(r.\"window\", m.default_window) AS span, quantile
                                     FROM ops.alert_rules r JOIN ops.metrics m USING (metric) WHERE r.enabled) s,
                                  LATERAL ops.metric_samples(s.metric, s.span, s.quantile, now()) v;"
first=$(timed "SELECT * FROM ops.evaluate_alerts(now());")
summary=$(psql -X -q -At -d "$db" -c "SELECT count(*) || ' alerts, ' || count(*) FILTER (WHERE state = 'firing') || ' firing, ' || count(*) FILTER (WHERE state = 'pending') || ' pending' FROM ops.alerts")
best_eval= best_samples=
for round in $(seq 1 "$rounds"); do
  t=$(timed "SELECT * FROM ops.evaluate_alerts(now() + interval '$round minutes');")
  if [ -z "$best_eval" ] || awk "BEGIN {exit !($t < $best_eval)}"; then best_eval=$t; fi
  t=$(timed "$samples_sql")
  if [ -z "$best_samples" ] || awk "BEGIN {exit !($t < $best_samples)}"; then best_samples=$t; fi
done
psql -X -q -d "$db" <<'SQL'
DELETE FROM ops.alert_rules WHERE rule LIKE 'Bench%';
TRUNCATE ops.alert_events, ops.notifications, ops.notification_groups, ops.host_samples, ops.request_log,
         ops.request_minutes_to_roll;
SQL

ratio=$(awk "BEGIN {printf \"%.1f\", $best_eval / $best_samples}")
printf '| %s | ops.evaluate_alerts() with 1 000 rules (%s), best of %d steady evaluations; the first took %s s | %s s, %sx the peer | computing the same metric series alone: %s s |\n' \
  "$(date +%F)" "$summary" "$rounds" "$first" "$best_eval" "$ratio" "$best_samples" | tee -a "$here/results/alerting.md"
