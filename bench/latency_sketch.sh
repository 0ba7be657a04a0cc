#!/usr/bin/env bash
# P50, P95 and P99 of 10M latencies by the ops.latency_sketch aggregate, against a plain
# count(*), avg(x) scan of the same rows, tdigest_percentile(x, 100, ...) from Debian's
# postgresql-15-tdigest, and percentile_cont, which is exact. One session runs every query in
# turn, each round alternating, best of each, with the server's default parallelism for all.
# The issue's bars: at most 1.4x the scan's time, and within 1 % of the exact quantiles.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rows=${BENCH_LATENCY_ROWS:-10000000}
rounds=${BENCH_SKETCH_ROUNDS:-5}
db=$BENCH_DATABASE

# Log-normal latencies with a median of 20 ms and a long tail (P99 near 200 ms).
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS tdigest;
DROP TABLE IF EXISTS public.bench_latencies;
CREATE TABLE public.bench_latencies AS
SELECT exp(ln(20) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS ms
  FROM generate_series(1, $rows);
VACUUM ANALYZE public.bench_latencies;
SQL

declare -A query=(
  [scan]="SELECT count(*), avg(ms) FROM public.bench_latencies"
  [sketch]="SELECT ops.sketch_quantiles(ops.latency_sketch(ms), '{0.5,0.95,0.99}') FROM public.bench_latencies"
  [tdigest]="SELECT tdigest_percentile(ms, 100, ARRAY[0.5,0.95,0.99]) FROM public.bench_latencies"
  [percentile_cont]="SELECT percentile_cont(ARRAY[0.5,0.95,0.99]) WITHIN GROUP (ORDER BY ms) FROM public.bench_latencies"
)
methods=(scan sketch tdigest percentile_cont)

# One psql session: \timing after each query, the answers kept for the error column.
script=$(
  echo '\timing on'
  for round in $(seq 1 "$rounds"); do
    for method in "${methods[@]}"; do
      echo "\\echo method $method"
      echo "${query[$method]};"
    done
  done
)
output=$(psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" <<<"$script")

declare -A best answer
current=
while IFS= read -r line; do
  case $line in
    "method "*) current=${line#method } ;;
    "Time: "*)
      [ -n "$current" ] || continue
      ms=$(sed -E 's/^Time: ([0-9.]+) ms.*/\1/' <<<"$line")
      if [ -z "${best[$current]:-}" ] || awk "BEGIN {exit !($ms < ${best[$current]})}"; then
        best[$current]=$ms
      fi
      ;;
    "") ;;
    *) [ -n "$current" ] && answer[$current]=$line ;;
  esac
done <<<"$output"
psql -X -q -d "$db" -c "DROP TABLE public.bench_latencies"

# Relative error of each P50, P95, P99 against percentile_cont's exact ones.
errors() {
  awk -v estimate="$1" -v exact="$2" 'BEGIN {
    gsub(/[{}]/, "", estimate); gsub(/[{}]/, "", exact)
    split(estimate, e, ","); split(exact, x, ",")
    for (i = 1; i <= 3; i++) {
      d = (e[i] - x[i]) / x[i]; if (d < 0) d = -d
      printf "%s%.2f%%", (i > 1 ? "/" : ""), 100 * d
    }
  }'
}
ratio() { awk "BEGIN {printf \"%.2f\", $1 / $2}"; }
seconds() { awk "BEGIN {printf \"%.3f\", $1 / 1000}"; }

sketch_error=$(errors "${answer[sketch]}" "${answer[percentile_cont]}")
tdigest_error=$(errors "${answer[tdigest]}" "${answer[percentile_cont]}")
printf '| %s | P50/P95/P99 of %d latencies by ops.latency_sketch, best of %d | %sx time (%s s vs %s s); error %s at P50/P95/P99 | count(*), avg(x) over the same rows |\n' \
  "$(date +%F)" "$rows" "$rounds" "$(ratio "${best[sketch]}" "${best[scan]}")" "$(seconds "${best[sketch]}")" \
  "$(seconds "${best[scan]}")" "$sketch_error" | tee -a "$here/results/latency_sketch.md"
printf '| %s | the same sketch against tdigest_percentile(x, 100, ...) (postgresql-15-tdigest), best of %d | %sx time (%s s vs %s s); tdigest error %s | tdigest |\n' \
  "$(date +%F)" "$rounds" "$(ratio "${best[sketch]}" "${best[tdigest]}")" "$(seconds "${best[sketch]}")" \
  "$(seconds "${best[tdigest]}")" "$tdigest_error" | tee -a "$here/results/latency_sketch.md"
printf '| %s | the same sketch against percentile_cont (exact), best of %d | %sx time (%s s vs %s s) | percentile_cont |\n' \
  "$(date +%F)" "$rounds" "$(ratio "${best[sketch]}" "${best[percentile_cont]}")" "$(seconds "${best[sketch]}")" \
  "$(seconds "${best[percentile_cont]}")" | tee -a "$here/results/latency_sketch.md"
