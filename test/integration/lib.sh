# Helpers for the integration tests: a tiny harness with pass/fail counts, and polling.
# Expects scripts/cluster.sh to be sourced and the cluster environment (PGHOST...) exported.

PASSED=0
FAILED=0

pass() {
  PASSED=$((PASSED + 1))
  echo "ok $((PASSED + FAILED)) - $1"
}

fail() {
  FAILED=$((FAILED + 1))
  echo "not ok $((PASSED + FAILED)) - $1"
  shift
  for line in "$@"; do
    echo "#   $line"
  done
}

# check NAME COMMAND...: passes when the command succeeds.
check() {
  local name=$1
  shift
  if "$@"; then
    pass "$name"
  else
    fail "$name" "command failed: $*"
  fi
}

# wait_until SECONDS COMMAND...: polls every 0.2 s; succeeds as soon as the command does.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  while [ "$SECONDS" -lt "$deadline" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  "$@" >/dev/null 2>&1
}

sql() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$IT_DATABASE" -c "$1"
}

health_status() {
  sql "SELECT api.health()->>'status'"
}

health_is() {
  [ "$(health_status)" = "$1" ]
}

# python_suite NAME SCRIPT ARGS...: runs a python test script that prints "ok N - ..." and
# "not ok N - ..." lines, and counts each of them here.
python_suite() {
  local name=$1 script=$2 output
  shift 2
  output=$(mktemp)
  /usr/bin/python3 "$script" "$@" >"$output" 2>&1
  local status=$?
  while IFS= read -r line; do
    case "$line" in
      "ok "*) pass "$name: ${line#ok * - }" ;;
      "not ok "*) fail "$name: ${line#not ok * - }" "$(grep -A1 -F -- "$line" "$output" | tail -n 1)" ;;
    esac
  done <"$output"
  if [ "$status" -ne 0 ] && ! grep -q "^not ok" "$output"; then
    fail "$name ran to its end" "$(tail -20 "$output")"
  fi
  rm -f "$output"
}

summary() {
  echo "integration: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
