#!/usr/bin/env bash
# api.health() against SELECT 1: pgbench, 4 clients, same cluster, same run. The rounds
# alternate so that a noisy neighbour hurts every side alike; the best round of each counts.
#
# Two reference points put the ratio in context: jsonb_build_object() of the same shape (what
# returning such a document costs at all) and a one-row table read (what touching a table costs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

clients=4
seconds=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-3}
# A fresh heartbeat, so api.health() takes its usual path and answers "ok".
psql -X -q -d "$BENCH_DATABASE" -c "SELECT ops.record_worker_heartbeat('bench', 'bench', 1, '0.1.0', now(), interval '1 hour')" >/dev/null

declare -A sql=(
  [select1]="SELECT 1;"
  [health]="SELECT api.health();"
  [jsonb_same_shape]="SELECT jsonb_build_object('status', 'ok', 'version', '0.1.0', 'library_version', '0.1.0', 'time', now(), 'database', current_database(), 'in_recovery', pg_is_in_recovery(), 'worker', jsonb_build_object('status', 'ok', 'worker_id', 'bench', 'host', 'bench', 'last_heartbeat', now(), 'age_seconds', 1.25, 'heartbeat_interval_seconds', 10), 'findings', '[]'::jsonb);"
  [one_row_table]="SELECT last_seen FROM ops.worker_heartbeats;"
)
order=(select1 health jsonb_same_shape one_row_table)

for mode in simple prepared; do
  declare -A best_tps=() best_p99=()
  for round in $(seq 1 "$rounds"); do
    for name in "${order[@]}"; do
      read -r tps p99 < <(pgbench_run "$name" "${sql[$name]}" "$clients" "$seconds" "$mode")
      if awk "BEGIN {exit !($tps > ${best_tps[$name]:-0})}"; then
        best_tps[$name]=$tps
        best_p99[$name]=$p99
      fi
    done
  done
  peer=${best_tps[select1]}
  for name in health jsonb_same_shape one_row_table; do
    ratio=$(awk "BEGIN {printf \"%.2f\", ${best_tps[$name]} / $peer}")
    printf '| %s | %s vs SELECT 1, pgbench -M %s, %d clients, best of %d x %ds | %sx tps (%.0f vs %.0f); p99 %s ms vs %s ms | SELECT 1 |\n' \
      "$(date +%F)" "$name" "$mode" "$clients" "$rounds" "$seconds" "$ratio" "${best_tps[$name]}" "$peer" \
      "${best_p99[$name]}" "${best_p99[select1]}" | tee -a "$here/results/health_vs_select1.md"
  done
  unset best_tps best_p99
done
