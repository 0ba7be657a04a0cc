#!/usr/bin/env bash
# api.health() against SELECT 1: pgbench, 4 clients, same cluster, same run. The rounds
# alternate so that a noisy neighbour hurts both sides alike; the best round of each counts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

clients=4
seconds=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-3}
# A fresh heartbeat, so api.health() takes its usual path and answers "ok".
psql -X -q -d "$BENCH_DATABASE" -c "SELECT ops.record_worker_heartbeat('bench', 'bench', 1, '0.1.0', now(), interval '1 hour')"

for mode in simple prepared; do
  best_peer=0 best_health=0 peer_p99= health_p99=
  for round in $(seq 1 "$rounds"); do
    read -r tps p99 < <(pgbench_run select1 "SELECT 1;" "$clients" "$seconds" "$mode")
    if awk "BEGIN {exit !($tps > $best_peer)}"; then best_peer=$tps peer_p99=$p99; fi
    read -r tps p99 < <(pgbench_run health "SELECT api.health();" "$clients" "$seconds" "$mode")
    if awk "BEGIN {exit !($tps > $best_health)}"; then best_health=$tps health_p99=$p99; fi
  done
  ratio=$(awk "BEGIN {printf \"%.2f\", $best_health / $best_peer}")
  echo "| $(date +%F) | api.health() vs SELECT 1, pgbench -M $mode, $clients clients, best of $rounds x ${seconds}s | ${ratio}x tps (${best_health} vs ${best_peer}); p99 ${health_p99} ms vs ${peer_p99} ms | SELECT 1 |" |
    tee -a "$here/results/health_vs_select1.md"
done
