#!/usr/bin/env bash
# The worker's checks at scale: 1 000 HTTP checks, each every 30 s, against nginx on loopback
# (GET, 200 expected), for 50 s after they arrive (two runs each), at check-threads 4
# (the default) and 64. Figures: the share of runs that started within 1 s of their schedule, and
# the worker's CPU (utime + stime from /proc/PID/stat over the window), with its database
# sessions' beside it. The schedule is rebuilt from ops.check_results.started_at: each check's
# runs are due at load + offset + k * 30 s, its offset fixed by its id (worker/check_schedule.cpp),
# the load being the one unknown; bench/worker_checks.py says how, and also reports the
# cross-check that needs no rebuilding: consecutive runs of a check 30 s +- 1 s apart. No peer
# does the same work; the CPU is read against the same worker idle (no checks) for 5 s just
# before, in the same run. The issue's bar: runs start within 1 s of their schedule.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/worker_lib.sh
source "$here/worker_lib.sh"
checks_count=${BENCH_CHECKS:-1000}
every=${BENCH_CHECK_EVERY:-30}
window=${BENCH_CHECK_SECONDS:-50}
idle=${BENCH_CHECK_IDLE_SECONDS:-5}
threads_list=${BENCH_CHECK_THREADS:-"4 64"}
db=$BENCH_DATABASE
work=$BENCH_WORK/checks
client_dsn="host=$PGHOST port=$PGPORT dbname=$db"
tick=$(getconf CLK_TCK)

rm -rf "$work"
mkdir -p "$work" "$here/results"
bench_worker_role
psql -X -q -d "$db" -c "SELECT count(*) FROM ops.maintain_partitions(now())" >/dev/null
checks=$(bench_disable_checks)
worker_pid=
cleanup() {
  [ -n "$worker_pid" ] && bench_worker_stop "$worker_pid"
  bench_nginx_stop "$work/nginx"
  psql -X -q -d "$db" -c "DELETE FROM ops.checks WHERE check_id LIKE 'bench-%'" \
    -c "DELETE FROM ops.check_results WHERE check_id LIKE 'bench-%'"
  bench_enable_checks "$checks"
  rm -rf "$work"
}
trap cleanup EXIT
bench_nginx_start "$work/nginx"
url="http://127.0.0.1:$bench_nginx_port/health"

cpu_percent() {  # cpu_percent TICKS SECONDS
  awk "BEGIN {printf \"%.1f\", 100 * $1 / $tick / $2}"
}

for threads in $threads_list; do
  prefix="bench-t$threads-"
  bench_worker_start "$work/worker-$threads.log" "bench-checks" --check-threads "$threads"
  worker_pid=$bench_worker_pid
  sleep 2
  # The peer: the same worker with no checks.
  ticks=$(bench_worker_cpu_ticks "$worker_pid") sessions=$(bench_worker_session_ticks)
  started=$(date +%s.%N)
  sleep "$idle"
  idle_seconds=$(awk "BEGIN {print $(date +%s.%N) - $started}")
  idle_cpu=$(cpu_percent $(($(bench_worker_cpu_ticks "$worker_pid") - ticks)) "$idle_seconds")
  idle_sessions=$(cpu_percent $(($(bench_worker_session_ticks) - sessions)) "$idle_seconds")

  # The checks arrive in one statement; its NOTIFY makes the worker load them within 0.5 s.
  ticks=$(bench_worker_cpu_ticks "$worker_pid") sessions=$(bench_worker_session_ticks)
  started=$(date +%s.%N)
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "INSERT INTO ops.checks (check_id, kind, target, method, expected_status,
      expected_body, every, timeout)
    SELECT '$prefix' || lpad(i::text, 4, '0'), 'http', '$url', 'GET', 200, 'ok', '$every seconds', '5 seconds'
      FROM generate_series(1, $checks_count) i"
  sleep "$window"
  busy_seconds=$(awk "BEGIN {print $(date +%s.%N) - $started}")
  busy_cpu=$(cpu_percent $(($(bench_worker_cpu_ticks "$worker_pid") - ticks)) "$busy_seconds")
  busy_sessions=$(cpu_percent $(($(bench_worker_session_ticks) - sessions)) "$busy_seconds")
  psql -X -q -d "$db" -c "UPDATE ops.checks SET enabled = false WHERE check_id LIKE '$prefix%'"
  sleep 1  # the results of the last runs are written every 0.5 s
  bench_worker_stop "$worker_pid"
  worker_pid=
  overran=$(grep -c '"event":"check_overran"' "$work/worker-$threads.log" || true)

  figures=$("$BENCH_PYTHON" "$here/worker_checks.py" "$client_dsn" "$prefix" "$every")
  read -r checked runs up on_time p50 p99 max pairs pairs_within <<<"$figures"
  printf '| %s | %d HTTP checks every %d s against nginx on loopback, check-threads %d, %.0f s after they arrived (%d runs of %d checks, %s up; %d overran) | %s%% of runs started within 1 s of their schedule (lateness p50 %s ms, p99 %s ms, max %s ms); %s%% of %d consecutive pairs %d s +- 1 s apart; the worker used %s%% of a core, its database sessions %s%% | the same worker idle, no checks, %.0f s before: %s%% of a core, its sessions %s%% |\n' \
    "$(date -u +%F)" "$checks_count" "$every" "$threads" "$busy_seconds" "$runs" "$checked" "$(awk "BEGIN {printf \"%.1f%%\", 100 * $up}")" \
    "$overran" "$(awk "BEGIN {printf \"%.1f\", 100 * $on_time}")" "$p50" "$p99" "$max" \
    "$(awk "BEGIN {printf \"%.1f\", 100 * $pairs_within}")" "$pairs" "$every" "$busy_cpu" "$busy_sessions" \
    "$idle_seconds" "$idle_cpu" "$idle_sessions" | tee -a "$here/results/worker_checks.md"
done
