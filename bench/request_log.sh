#!/usr/bin/env bash
# The request log's bulk paths. COPY of 1M requests into ops.request_log (partitioned by day,
# its CHECK, and the index that marks minutes for the rollup) against COPY of the same file into
# an unpartitioned table with the same columns and no indexes, constraints or triggers; same
# run, alternating, best of each. The issue's bar: at least 0.7x the rows/s.
# Then ops.rollup_requests() over those 1M rows (about 1440 minutes and 8 routes), timed alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rows=${BENCH_REQUEST_ROWS:-1000000}
rounds=${BENCH_COPY_ROUNDS:-5}
db=$BENCH_DATABASE
file=$BENCH_WORK/requests.csv

# One day of requests ending an hour ago, written by the server so COPY reads a local file.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
SET client_min_messages = warning;
SELECT count(*) FROM ops.maintain_partitions(now() - interval '1 day');
SELECT count(*) FROM ops.maintain_partitions(now());
COPY (SELECT now() - interval '1 hour' - (i % 86400) * interval '1 second' - (i % 997) * interval '1 millisecond',
             (ARRAY['GET', 'GET', 'GET', 'POST'])[1 + i % 4],
             (ARRAY['/expenses', '/rpc/login', '/rpc/health', '/expense_events', '/categories', '/tickets',
                    '/rpc/submit_expense', '/rpc/health_db'])[1 + i % 8],
             (ARRAY[200, 200, 200, 201, 400, 404, 500, 200])[1 + (i / 8) % 8],
             round((5 + (i % 1000) * 0.37)::numeric, 3), NULL, NULL, NULL
        FROM generate_series(1, $rows) i) TO '$file' (FORMAT csv);
DROP TABLE IF EXISTS public.bench_requests_flat;
CREATE TABLE public.bench_requests_flat (LIKE ops.request_log);
SQL

copy_seconds() {  # copy_seconds TABLE: one timed COPY of the file, after emptying the table
  psql -X -q -d "$db" -c "TRUNCATE $1" -c "TRUNCATE ops.request_minutes_to_roll" -c CHECKPOINT >/dev/null
  psql -X -q -At -d "$db" <<SQL | tail -1
SELECT clock_timestamp() AS t0 \gset
COPY $1 (at, method, route, status, duration_ms, sqlstate, org_id, user_id) FROM '$file' (FORMAT csv);
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3);
SQL
}

best_flat= best_log=
for round in $(seq 1 "$rounds"); do
  t=$(copy_seconds public.bench_requests_flat)
  if [ -z "$best_flat" ] || awk "BEGIN {exit !($t < $best_flat)}"; then best_flat=$t; fi
  t=$(copy_seconds ops.request_log)
  if [ -z "$best_log" ] || awk "BEGIN {exit !($t < $best_log)}"; then best_log=$t; fi
done

# The last COPY into the log marked its minutes; roll them all up.
rollup=$(psql -X -q -At -d "$db" <<'SQL' | tail -1
SELECT clock_timestamp() AS t0 \gset
SELECT minutes || ' minutes, ' || rollup_rows || ' rollup rows' AS summary FROM ops.rollup_requests(now()) \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3) || ' s for ' || :'summary';
SQL
)
psql -X -q -d "$db" -c "DROP TABLE public.bench_requests_flat" -c "TRUNCATE ops.request_log, ops.request_rollups, ops.request_minutes_to_roll"
rm -f "$file"

ratio=$(awk "BEGIN {printf \"%.2f\", $best_flat / $best_log}")
printf '| %s | COPY of %d requests into ops.request_log (daily partitions, its CHECK, the minute-marking index), best of %d | %sx rows/s (%.0f vs %.0f rows/s; %s s vs %s s) | COPY into an unpartitioned table with the same columns, no indexes, constraints or triggers |\n' \
  "$(date +%F)" "$rows" "$rounds" "$ratio" "$(awk "BEGIN {print $rows / $best_log}")" \
  "$(awk "BEGIN {print $rows / $best_flat}")" "$best_log" "$best_flat" | tee -a "$here/results/request_log.md"
printf '| %s | ops.rollup_requests() over %d requests of one day, 8 routes, one run | %s | (no peer; the COPY above takes %s s) |\n' \
  "$(date +%F)" "$rows" "$rollup" "$best_log" | tee -a "$here/results/request_log.md"
