# Helpers for benchmarks: pgbench runs with per-transaction logs, and their percentiles.

# pgbench_run NAME SQL CLIENTS SECONDS MODE: prints "tps p99_ms" for one run.
pgbench_run() {
  local name=$1 sql=$2 clients=$3 seconds=$4 mode=$5
  local script="$BENCH_WORK/$name.sql" logdir="$BENCH_WORK/log-$name-$RANDOM"
  echo "$sql" >"$script"
  mkdir -p "$logdir"
  local output
  output=$(cd "$logdir" && pgbench -n -M "$mode" -c "$clients" -j "$clients" -T "$seconds" \
    -f "$script" --log --log-prefix=tx "$BENCH_DATABASE" 2>&1)
  local tps
  tps=$(echo "$output" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  if [ -z "$tps" ] || grep -q "aborted" <<<"$output"; then
    echo "pgbench failed for $name:" >&2
    echo "$output" | tail -5 >&2
    rm -rf "$logdir"
    return 1
  fi
  # Column 3 of pgbench's per-transaction log is the latency in microseconds.
  local p99
  p99=$(cat "$logdir"/tx* | awk '{print $3}' | sort -n |
    awk '{v[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.3f", v[i]/1000}')
  rm -rf "$logdir"
  echo "$tps $p99"
}
