#!/usr/bin/env bash
# make bench: each benchmark against its named peer, in the same run, on a throwaway cluster.
# Prints markdown rows for bench/README.md. The machine is shared and noisy: read the ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/cluster.sh

scripts/install-deps.sh
make -s >/dev/null
install_extension
make -s cmake-build >/dev/null

mkdir -p bench/results
# Benchmarks of extension/core alone, without a server.
bench/jwt.sh

base=$(mktemp -d /tmp/expense_ops_bench.XXXXXX)
port=$(free_port 56432)
trap 'cluster_stop "$base"; rm -rf "$base"' EXIT
cluster_create "$base" "$port"
cluster_start "$base"
cluster_env "$base" "$port"
psql -X -q -d postgres -c "CREATE DATABASE expense_ops_bench"
psql -X -q -v ON_ERROR_STOP=1 -d expense_ops_bench -c "CREATE EXTENSION expense_ops"

export BENCH_DATABASE=expense_ops_bench BENCH_WORK=$base
for benchmark in bench/health_vs_select1.sh bench/expenses_insert.sh bench/expenses_single_row.sh bench/expenses_postgrest_insert.sh bench/logins.sh bench/login_paths.sh \
    bench/sla_clock.sh bench/sla_refresh.sh bench/latency_sketch.sh bench/request_log.sh bench/alerting.sh \
    bench/worker_delivery_latency.sh bench/worker_delivery_rate.sh bench/worker_checks.sh bench/worker_log_shipping.sh \
    bench/backup.sh; do
  "$benchmark"
done
