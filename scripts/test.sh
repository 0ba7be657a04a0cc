#!/usr/bin/env bash
# make test: every test layer on a throwaway cluster, each printing its own totals.
#   format -> unit (ctest) -> sanitizers (ASan + UBSan) -> clang-tidy -> pg_regress -> pgTAP ->
#   integration, then a check of the server log for crashed backends. Exits non-zero if any
#   layer fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/cluster.sh

scripts/install-deps.sh || exit 1

echo "== build"
# Warnings are errors in the test build, as in CI.
make -s WERROR=1 >/dev/null || exit 1
install_extension || exit 1
install_extension install-probes || exit 1
make -s WERROR=1 cmake-build >/dev/null || exit 1

base=$(mktemp -d /tmp/expense_ops_test.XXXXXX)
port=$(free_port 55432)
cleanup() {
  cluster_stop "$base"
  rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# pg_stat_statements is preloaded as make run does: the integration layer samples it.
cluster_create "$base" "$port" pg_stat_statements || exit 1
cluster_start "$base" || { cat "$base/server.log"; exit 1; }
cluster_env "$base" "$port"
echo "   cluster on port $port, as user $SERVER_USER, in $base"

declare -a layer_names layer_results
run_layer() {
  local name=$1
  shift
  echo
  echo "== $name"
  if "$@"; then
    layer_results+=("passed")
  else
    layer_results+=("FAILED")
  fi
  layer_names+=("$name")
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
  ctest --test-dir build --output-on-failure && make -s check-core-isolation
}

# One TAP stream per file of test/integration, read by prove; its summary is the layer's totals.
# Without -j: worker_test.py and replica_test.py stop the cluster under any file running beside them.
integration() {
  CLUSTER_BASE="$base" WORKER="$root/build/expense-ops-worker" \
    prove --verbose --timer --exec /usr/bin/python3 test/integration/*_test.py
}

run_layer "format (clang-format)" make -s format-check
run_layer "unit (ctest)" unit
run_layer "sanitizers (ASan+UBSan)" make -s sanitize
run_layer "clang-tidy" make -s tidy
run_layer "pg_regress" regress
run_layer "pgTAP" pgtap
run_layer "integration" integration

echo
echo "== server log"
if crashes=$(cluster_crashes "$base"); then
  echo "backends crashed during the tests:"
  echo "$crashes"
  layer_names+=("no crashed backends")
  layer_results+=("FAILED")
else
  echo "no backend terminated by a signal"
  layer_names+=("no crashed backends")
  layer_results+=("passed")
fi

echo
echo "== summary"
passed=0
failed=0
for i in "${!layer_names[@]}"; do
  printf '   %-26s %s\n' "${layer_names[$i]}" "${layer_results[$i]}"
  if [ "${layer_results[$i]}" = passed ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
