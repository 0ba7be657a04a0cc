#!/usr/bin/env bash
# The worker's sustained delivery rate. A burst of webhook notifications (each in its own group)
# is committed in one transaction with NOTIFY expense_ops_notifications, and timed from the
# COMMIT until the database has them all delivered (polled every 0.05 s); nginx's log must then
# hold each Idempotency-Key exactly once. Before each run the outbox holds 10 000 delivered
# notifications, vacuumed and analyzed, as a live one would.
#
# - As a burst lands: 20 000 notifications while the planner's statistics say nothing is waiting,
#   as they do on a live outbox; one worker at the default delivery-concurrency (16) and at 64,
#   and two workers (distinct worker ids, sharing the outbox) at 64.
# - "analyze" runs (ANALYZE ops.notifications in the burst's own transaction, what autovacuum
#   does a minute or so later) can be chosen through BENCH_DELIVERY_RUNS; since the claim walks
#   notifications_due in order (0.7.0), they measure the same.
#
# The peer, run just before each: libcurl's own client (curl --parallel, as many transfers at
# once as the workers have in total, kept-alive connections) POSTing the same payload as many
# times to the same nginx: the receiver's and libcurl's capacity, without the database. The
# issue's bar: at least 1000 notifications/s with one worker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/worker_lib.sh
source "$here/worker_lib.sh"
history=${BENCH_OUTBOX_HISTORY:-10000}
# COUNT:WORKERS:CONCURRENCY:PLANNER (planner: "as-is" or "analyze")
runs=${BENCH_DELIVERY_RUNS:-"20000:1:16:as-is 20000:1:64:as-is 20000:2:64:as-is"}
timeout=${BENCH_BURST_TIMEOUT:-90}
db=$BENCH_DATABASE
work=$BENCH_WORK/delivery_rate
client_dsn="host=$PGHOST port=$PGPORT dbname=$db"

rm -rf "$work"
mkdir -p "$work" "$here/results"
bench_worker_role
psql -X -q -d "$db" -c "SELECT count(*) FROM ops.maintain_partitions(now())" >/dev/null
checks=$(bench_disable_checks)
worker_pids=()
stop_workers() {
  local pid
  for pid in "${worker_pids[@]}"; do bench_worker_stop "$pid"; done
  worker_pids=()
}
cleanup() {
  stop_workers
  bench_nginx_stop "$work/nginx"
  psql -X -q -d "$db" -c "DELETE FROM ops.notification_channels WHERE channel = 'bench-hook'"
  bench_enable_checks "$checks"
  rm -rf "$work"
}
trap cleanup EXIT
bench_nginx_start "$work/nginx"
url="http://127.0.0.1:$bench_nginx_port/hook"
bench_hook_channel "$url"
# The payload every notification carries, for the peer to send.
psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" >"$work/payload.json" <<SQL
SELECT ops.webhook_payload('bench-hook', '{}/{channel="bench-hook"}:{n="rate-0-0"}', jsonb_build_object('n', 'rate-0-0'),
         jsonb_build_array(jsonb_build_object(
           'labels', jsonb_build_object('alertname', 'DeliveryBench', 'n', 'rate-0-0', 'severity', 'high'),
           'annotations', jsonb_build_object('summary', 'delivery benchmark rate-0-0'),
           'starts_at', now() - interval '1 minute', 'status', 'firing', 'generator_url', '')),
         'http://127.0.0.1', 0)::text;
SQL

run=0
for setting in $runs; do
  IFS=: read -r count workers concurrency planner <<<"$setting"
  run=$((run + 1))
  prefix="rate-$run"
  # The peer: the same number of POSTs, as many at once as the workers will have.
  started=$(date +%s.%N)
  (cd "$work" && curl -s -f -Z --parallel-max $((workers * concurrency)) -X POST \
    -H 'Content-Type: application/json' -H "Idempotency-Key: peer-$run" --data-binary @payload.json \
    "$url?n=[1-$count]" >/dev/null 2>&1)
  peer_seconds=$(awk "BEGIN {print $(date +%s.%N) - $started}")

  bench_outbox_history "$url" "$history"
  for i in $(seq 1 "$workers"); do
    bench_worker_start "$work/worker-$run-$i.log" "bench-rate-$i" --delivery-concurrency "$concurrency"
    worker_pids+=("$bench_worker_pid")
  done
  ticks=0
  for pid in "${worker_pids[@]}"; do ticks=$((ticks - $(bench_worker_cpu_ticks "$pid"))); done
  session_ticks=$((-$(bench_worker_session_ticks)))
  figures=$("$BENCH_PYTHON" "$here/worker_delivery.py" burst "$client_dsn" bench-hook "$prefix" "$count" "$timeout" \
    "$([ "$planner" = analyze ] && echo analyze || echo as-is)")
  read -r seconds delivered outcome <<<"$figures"
  for pid in "${worker_pids[@]}"; do ticks=$((ticks + $(bench_worker_cpu_ticks "$pid"))); done
  session_ticks=$((session_ticks + $(bench_worker_session_ticks)))
  stop_workers
  bench_nginx_flush "$work/nginx"
  # Each key once at the receiver: the sink counted them too.
  figures=$(awk -v prefix="$prefix-" 'index($1, prefix) == 1 {n++; seen[$1]} END {print length(seen), n + 0}' \
    "$work/nginx/sink.log")
  read -r keys received <<<"$figures"
  if [ "$outcome" = "done" ] && [ "$keys" != "$count" ]; then
    echo "worker_delivery_rate: nginx received $keys of $count keys" >&2
    exit 1
  fi
  rate=$(awk "BEGIN {printf \"%.0f\", $delivered / $seconds}")
  peer_rate=$(awk "BEGIN {printf \"%.0f\", $count / $peer_seconds}")
  ratio=$(awk "BEGIN {printf \"%.2f\", $rate / $peer_rate}")
  cpu=$(awk "BEGIN {printf \"%.0f\", 100 * $ticks / $(getconf CLK_TCK) / $seconds}")
  session_cpu=$(awk "BEGIN {printf \"%.0f\", 100 * $session_ticks / $(getconf CLK_TCK) / $seconds}")
  if [ "$planner" = analyze ]; then
    what="$count notifications committed at once, ANALYZE in the same transaction"
  else
    what="$count notifications committed at once, the planner's statistics saying none wait (as on a live outbox)"
  fi
  if [ "$outcome" = "done" ]; then
    figure="$rate/s ($seconds s)"
  else
    figure="did not finish: $delivered delivered in $seconds s, $rate/s"
  fi
  printf '| %s | sustained delivery: %s, until all delivered (each key once at nginx; %d twice), %d worker(s), delivery-concurrency %d, the outbox holding %d delivered before | %s, %sx the peer; the worker(s) used %s%% of a core, their database sessions %s%% | curl --parallel-max %d POSTing the same payload to the same nginx: %s/s |\n' \
    "$(date -u +%F)" "$what" $((received - keys)) "$workers" "$concurrency" "$history" "$figure" "$ratio" "$cpu" "$session_cpu" \
    $((workers * concurrency)) "$peer_rate" | tee -a "$here/results/worker_delivery_rate.md"
done
