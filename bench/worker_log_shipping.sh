#!/usr/bin/env bash
# The worker's access-log shipping: an nginx JSON access log of 500 000 lines (the expense_ops
# log_format of docs/worker.md, the last hour, 8 routes) shipped by one worker (ship-log
# bench:json:PATH, ship-logs-interval 0.1 s) into ops.request_log through ops.ship_log() and
# ops.ingest_requests(). The file is renamed into place under a running worker; timed until
# ops.log_offsets.offset_bytes reaches its size (polled every 0.1 s). The peer, in the same
# run, best of 3: COPY of the same rows, as CSV, into an unpartitioned table with the same
# columns and no indexes, constraints or triggers (as bench/request_log.sh). For context, best of
# 3: the extension's own bulk path for the same rows, COPY into ops.request_staging and then
# ops.load_request_staging(), which applies the checks ops.ingest_requests() applies.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/worker_lib.sh
source "$here/worker_lib.sh"
lines=${BENCH_LOG_LINES:-500000}
rounds=${BENCH_LOG_ROUNDS:-2}
copy_rounds=${BENCH_COPY_ROUNDS:-3}
db=$BENCH_DATABASE
work=$BENCH_WORK/log_shipping
json=$BENCH_WORK/bench_access.json
csv=$BENCH_WORK/bench_access.csv

rm -rf "$work"
mkdir -p "$work" "$here/results"
bench_worker_role
checks=$(bench_disable_checks)
worker_pid=
cleanup() {
  [ -n "$worker_pid" ] && bench_worker_stop "$worker_pid"
  psql -X -q -d "$db" -c "DROP TABLE IF EXISTS public.bench_requests_flat" \
    -c "DELETE FROM ops.log_offsets WHERE source LIKE 'bench%'" \
    -c "TRUNCATE ops.request_log, ops.request_minutes_to_roll, ops.request_staging"
  bench_enable_checks "$checks"
  rm -rf "$work" "$json" "$csv"
}
trap cleanup EXIT

# The same rows twice, written by the server: nginx's JSON lines and a CSV for COPY.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL
SET client_min_messages = warning;
SELECT count(*) FROM ops.maintain_partitions(now() - interval '1 day');
SELECT count(*) FROM ops.maintain_partitions(now());
CREATE TEMP TABLE lines AS
SELECT date_trunc('second', now()) - interval '1 hour' + (i % 3600) * interval '1 second' AS at,
       (ARRAY['GET', 'GET', 'GET', 'POST'])[1 + i % 4] AS method,
       (ARRAY['/expenses', '/rpc/login', '/rpc/health', '/expense_events', '/categories', '/tickets',
              '/rpc/submit_expense', '/rpc/health_db'])[1 + i % 8] AS route,
       (ARRAY[200, 200, 200, 201, 400, 404, 500, 200])[1 + (i / 8) % 8] AS status,
       round((0.005 + (i % 1000) * 0.00037)::numeric, 3) AS seconds
  FROM generate_series(1, $lines) i;
COPY (SELECT format('{"time":"%s","method":"%s","uri":"%s","status":%s,"request_time":%s}',
                    to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'), method, route, status, seconds)
        FROM lines) TO '$json';
COPY (SELECT at, method, route, status, seconds * 1000, NULL, NULL, NULL FROM lines) TO '$csv' (FORMAT csv);
DROP TABLE IF EXISTS public.bench_requests_flat;
CREATE TABLE public.bench_requests_flat (LIKE ops.request_log);
SQL
size=$(stat -c %s "$json")

timed() {  # timed SQL: seconds the statements took, measured in the server
  psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" <<SQL | tail -1
SELECT clock_timestamp() AS t0 \gset
$1
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3);
SQL
}
empty() {
  psql -X -q -d "$db" -c "TRUNCATE public.bench_requests_flat, ops.request_log, ops.request_minutes_to_roll, ops.request_staging" \
    -c "DELETE FROM ops.log_offsets WHERE source LIKE 'bench%'" -c CHECKPOINT >/dev/null
}
better() {  # better BEST T: the smaller
  if [ -z "$1" ] || awk "BEGIN {exit !($2 < $1)}"; then echo "$2"; else echo "$1"; fi
}

best_ship='' best_flat='' best_staging='' ship_cpu='' session_cpu=''
for round in $(seq 1 "$rounds"); do
  empty
  source_name="bench$round"
  path=$work/access-$round.json
  bench_worker_start "$work/worker-$round.log" bench-shipper --ship-log "$source_name:json:$path" --ship-logs-interval 0.1
  worker_pid=$bench_worker_pid
  cp "$json" "$path.new"
  ticks=$(bench_worker_cpu_ticks "$worker_pid") sessions=$(bench_worker_session_ticks)
  started=$(date +%s.%N)
  mv "$path.new" "$path"
  until [ "$(psql -X -q -At -d "$db" -c "SELECT offset_bytes FROM ops.log_offsets WHERE source = '$source_name'")" = "$size" ]; do
    if ! kill -0 "$worker_pid" 2>/dev/null || awk "BEGIN {exit !($(date +%s.%N) - $started > 300)}"; then
      echo "worker_log_shipping: the file was not shipped within 300 s:" >&2
      tail -5 "$work/worker-$round.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  t=$(awk "BEGIN {printf \"%.3f\", $(date +%s.%N) - $started}")
  ticks=$(($(bench_worker_cpu_ticks "$worker_pid") - ticks)) sessions=$(($(bench_worker_session_ticks) - sessions))
  bench_worker_stop "$worker_pid"
  worker_pid=
  figures=$(psql -X -q -At -F ' ' -d "$db" -c "SELECT lines, rejected, (SELECT count(*) FROM ops.request_log)
                                                FROM ops.log_offsets WHERE source = '$source_name'")
  read -r shipped rejected loaded <<<"$figures"
  if [ "$shipped" != "$lines" ] || [ "$rejected" != 0 ] || [ "$loaded" != "$lines" ]; then
    echo "worker_log_shipping: $shipped lines shipped, $rejected refused, $loaded in ops.request_log; expected $lines" >&2
    grep -v '"level":"debug"' "$work/worker-$round.log" | tail -5 >&2
    exit 1
  fi
  if [ "$(better "$best_ship" "$t")" = "$t" ]; then
    best_ship=$t
    ship_cpu=$(awk "BEGIN {printf \"%.0f\", 100 * $ticks / $(getconf CLK_TCK) / $t}")
    session_cpu=$(awk "BEGIN {printf \"%.0f\", 100 * $sessions / $(getconf CLK_TCK) / $t}")
  fi
  for _ in $(seq 1 "$copy_rounds"); do
    empty
    best_flat=$(better "$best_flat" "$(timed "COPY public.bench_requests_flat FROM '$csv' (FORMAT csv);")")
    empty
    best_staging=$(better "$best_staging" "$(timed "COPY ops.request_staging (at, method, route, status, duration_ms, sqlstate, org_id, user_id) FROM '$csv' (FORMAT csv);
SELECT count(*) FROM ops.load_request_staging();")")
  done
done

rate() { awk "BEGIN {printf \"%.0f\", $lines / $1}"; }
printf '| %s | access-log shipping: %d nginx JSON lines (%.1f MB) by one worker (ship-logs-interval 0.1 s) into ops.request_log through ops.ship_log(), from the rename until the offset reached the file size, best of %d | %s lines/s (%s s), %sx the peer; the worker used %s%% of a core, its database session %s%% | COPY of the same rows as CSV into an unpartitioned table with the same columns, no indexes, constraints or triggers, best of %d: %s lines/s (%s s) |\n' \
  "$(date -u +%F)" "$lines" "$(awk "BEGIN {print $size / 1e6}")" "$rounds" "$(rate "$best_ship")" "$best_ship" \
  "$(awk "BEGIN {printf \"%.2f\", $best_flat / $best_ship}")" "$ship_cpu" "$session_cpu" $((rounds * copy_rounds)) \
  "$(rate "$best_flat")" "$best_flat" | tee -a "$here/results/worker_log_shipping.md"
printf '| %s | reference: the same shipping against the extension'"'"'s own bulk path for the same rows | %sx the time (%s s vs %s s) | COPY into ops.request_staging, then ops.load_request_staging() (the checks of ops.ingest_requests), best of %d: %s lines/s |\n' \
  "$(date -u +%F)" "$(awk "BEGIN {printf \"%.1f\", $best_ship / $best_staging}")" "$best_ship" "$best_staging" \
  $((rounds * copy_rounds)) "$(rate "$best_staging")" | tee -a "$here/results/worker_log_shipping.md"
