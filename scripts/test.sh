#!/usr/bin/env bash
# make test: every test layer on a throwaway cluster, each printing its own totals.
#   format -> unit (ctest) -> sanitizers (ASan + UBSan) -> clang-tidy, beside
#   pg_regress -> pgTAP -> integration, then a check of the server log for crashed backends.
#   Exits non-zero if any layer fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/cluster.sh

scripts/install-deps.sh || exit 1

echo "== build"
build_started=$SECONDS
# Warnings are errors in the test build, as in CI.
make -s -j2 WERROR=1 >/dev/null || exit 1
install_extension || exit 1
install_extension install-probes || exit 1
# The worker now, which the integration layer runs; the unit tests build in their own layer.
make -s WERROR=1 cmake-build CMAKE_TARGET=expense-ops-worker >/dev/null || exit 1

base=$(mktemp -d /tmp/expense_ops_test.XXXXXX)
port=$(free_port 55432)
static_layers=
cleanup() {
  # Cut short (Ctrl-C, or a failed start): the background layers' process group goes whole, and
  # what they printed so far is shown before their directory goes.
  if [ -n "$static_layers" ]; then
    kill -TERM -- "-$static_layers" 2>/dev/null
    wait "$static_layers" 2>/dev/null
    echo "== format, unit, sanitizers and clang-tidy, cut short:"
    tail -n 40 "$base/static.log"
  fi
  cluster_stop "$base"
  rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "   built in $((SECONDS - build_started)) s"
# pg_stat_statements is preloaded as make run does: the integration layer samples it.
cluster_create "$base" "$port" pg_stat_statements || exit 1
cluster_start "$base" || { cat "$base/server.log"; exit 1; }
cluster_env "$base" "$port"
echo "   cluster on port $port, as user $SERVER_USER, in $base"

# Each layer leaves one line, "name<TAB>result<TAB>seconds", in $layers/<its place in the summary>:
# the layers without a database run in a background subshell beside those with one.
layers=$base/layers
mkdir "$layers"
run_layer() {
  local place=$1 name=$2 started=$SECONDS result=passed
  shift 2
  echo
  echo "== $name"
  "$@" || result=FAILED
  printf '%s\t%s\t%s s\n' "$name" "$result" "$((SECONDS - started))" >"$layers/$place"
}

pgtap() {
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS expense_ops_tap" -c "CREATE DATABASE expense_ops_tap" &&
    psql -X -q -v ON_ERROR_STOP=1 -d expense_ops_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION expense_ops" &&
    pg_prove --failures -d expense_ops_tap test/pgtap/*.sql
}

regress() {
  if make -s installcheck; then
    return 0
  fi
  cat regression.diffs 2>/dev/null | head -100
  return 1
}

unit() {
  make -s WERROR=1 cmake-build >/dev/null &&
    ctest --test-dir build -j2 --output-on-failure && make -s check-core-isolation
}

# One TAP stream per file of test/integration, read by prove; its summary is the layer's totals.
# Without -j: worker_test.py and replica_test.py stop the cluster under any file running beside them.
integration() {
  CLUSTER_BASE="$base" WORKER="$root/build/expense-ops-worker" \
    prove --verbose --timer --exec /usr/bin/python3 test/integration/*_test.py
}

# The layers without a database (formatting, the unit tests' build and run, the sanitizer build
# and clang-tidy) are CPU-bound compiles; the database layers mostly wait on servers, browsers
# and timers. So both run at once, the compiles at the lowest priority: the database layers'
# timing sees almost none of them, and make test takes the longer of the two, not their sum.
# Job control (set -m) gives them a process group of their own, which cleanup stops whole.
set -m
(
  renice -n 19 -p "$BASHPID" >/dev/null
  run_layer 1 "format (clang-format)" make -s format-check
  run_layer 2 "unit (ctest)" unit
  run_layer 3 "sanitizers (ASan+UBSan)" make -s sanitize
  run_layer 4 "clang-tidy" make -s tidy
) >"$base/static.log" 2>&1 &
static_layers=$!
set +m
echo "   format, unit, sanitizers and clang-tidy run beside the database layers (at nice 19);"
echo "   their output follows the integration layer's"

run_layer 5 "pg_regress" regress
run_layer 6 "pgTAP" pgtap
run_layer 7 "integration" integration

wait "$static_layers"
static_layers=
cat "$base/static.log"

echo
echo "== server log"
if crashes=$(cluster_crashes "$base"); then
  echo "backends crashed during the tests:"
  echo "$crashes"
  printf 'no crashed backends\tFAILED\t\n' >"$layers/8"
else
  echo "no backend terminated by a signal"
  printf 'no crashed backends\tpassed\t\n' >"$layers/8"
fi

echo
echo "== summary"
passed=0
failed=0
for place in 1 2 3 4 5 6 7 8; do
  if ! { [ -f "$layers/$place" ] && IFS=$'\t' read -r name result seconds <"$layers/$place"; }; then
    name="layer $place" result="FAILED" seconds="(did not finish)"
  fi
  printf '   %-26s %-7s %s\n' "$name" "$result" "$seconds"
  if [ "$result" = passed ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "layers: $passed passed, $failed failed"
echo "make test took $((SECONDS / 60)) min $((SECONDS % 60)) s"
[ "$failed" -eq 0 ]
