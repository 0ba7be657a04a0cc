#!/usr/bin/env bash
# Integration tests against a live cluster: the worker's heartbeat drives api.health(), the
# worker survives an unreachable database and a PostgreSQL restart, bad configuration exits 2,
# and the extension's upgrade path matches a fresh install.
#
# Needs: the cluster environment (PGHOST, PGPORT, PGUSER) and CLUSTER_BASE, the extension
# installed, and build/expense-ops-worker. scripts/test.sh provides all of them.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/scripts/cluster.sh"
source "$here/lib.sh"
source "$here/replica.sh"

: "${CLUSTER_BASE:?CLUSTER_BASE must name the cluster base directory}"
WORKER=${WORKER:-$root/build/expense-ops-worker}
IT_DATABASE=expense_ops_it
WORK=$(mktemp -d /tmp/expense_ops_it.XXXXXX)
WORKER_PID=
trap 'stop_worker; [ -n "${STANDBY_BASE:-}" ] && cluster_stop "$STANDBY_BASE"; rm -rf "$WORK"' EXIT

# The DSN travels in the environment, as docs/worker.md says it should: a --dsn flag would show in ps.
start_worker() {
  local log=$1
  shift
  EXPENSE_OPS_DSN="host=$PGHOST port=$PGPORT dbname=$IT_DATABASE user=it_worker" \
    "$WORKER" --worker-id it-worker "$@" >"$log" 2>&1 &
  WORKER_PID=$!
}

stop_worker() {
  if [ -n "$WORKER_PID" ] && kill -0 "$WORKER_PID" 2>/dev/null; then
    kill -TERM "$WORKER_PID" 2>/dev/null
    wait "$WORKER_PID" 2>/dev/null
  fi
  WORKER_PID=
}

worker_running() { kill -0 "$WORKER_PID" 2>/dev/null; }
count_events() { grep -c "\"event\":\"$2\"" "$1"; }
last_seen() { sql "SELECT extract(epoch FROM last_seen) FROM ops.worker_heartbeats WHERE worker_id = 'it-worker'"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $IT_DATABASE" -c "CREATE DATABASE $IT_DATABASE"
sql "CREATE EXTENSION expense_ops"
# The worker's LOGIN role holds nothing but expense_ops_worker's privileges.
psql -X -q -d postgres -c "DROP ROLE IF EXISTS it_worker" -c "CREATE ROLE it_worker LOGIN IN ROLE expense_ops_worker"

echo "# worker heartbeat drives api.health()"
check "health is degraded before any worker ran" health_is degraded
start_worker "$WORK/worker.log" --heartbeat-interval 1
check "health turns ok once the worker's heartbeats arrive" wait_until 10 health_is ok
check "the worker logs structured JSON lines" grep -q '^{"ts":"[^"]*","level":"info","event":"connected"' "$WORK/worker.log"
kill -KILL "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null
killed_at=$SECONDS
WORKER_PID=
check "health turns degraded within three intervals (plus a second) of killing the worker" \
  wait_until 4 health_is degraded
check "and not before two intervals passed" [ $((SECONDS - killed_at)) -ge 2 ]

echo "# clean shutdown"
start_worker "$WORK/term.log" --heartbeat-interval 1
wait_until 10 health_is ok
kill -TERM "$WORKER_PID"
term_started=$SECONDS
wait "$WORKER_PID"
term_status=$?
WORKER_PID=
check "SIGTERM stops the worker with exit code 0" [ "$term_status" -eq 0 ]
check "promptly, within 2 seconds" [ $((SECONDS - term_started)) -le 2 ]
check "and it logs that it stopped" grep -q '"event":"stopped","signal":15' "$WORK/term.log"
start_worker "$WORK/int.log" --heartbeat-interval 1
wait_until 10 grep -q '"event":"connected"' "$WORK/int.log"
kill -INT "$WORKER_PID"
wait "$WORKER_PID"
check "SIGINT stops it too" [ $? -eq 0 ]
WORKER_PID=

echo "# bad configuration"
"$WORKER" --heartbeat-interval 1 >"$WORK/nodsn.out" 2>&1
check "no DSN exits with code 2" [ $? -eq 2 ]
check "and names the option" grep -q -- "--dsn" "$WORK/nodsn.out"
"$WORKER" --dsn dbname=x --heartbeat-interval fast >"$WORK/badint.out" 2>&1
check "a malformed interval exits with code 2" [ $? -eq 2 ]
check "and names the option" grep -q "heartbeat-interval" "$WORK/badint.out"
printf 'dsn = dbname=x\nbogus = 1\n' >"$WORK/bad.conf"
"$WORKER" --config "$WORK/bad.conf" >"$WORK/badconf.out" 2>&1
check "an unknown option in the config file exits with code 2" [ $? -eq 2 ]
check "and names it" grep -q "bogus" "$WORK/badconf.out"
EXPENSE_OPS_RECONNECT_MAX_DELAY=-1 "$WORKER" --dsn dbname=x >"$WORK/badenv.out" 2>&1
check "a bad value from the environment exits with code 2" [ $? -eq 2 ]
check "and names the option" grep -q -- "--reconnect-max-delay" "$WORK/badenv.out"

echo "# secrets stay out of the worker's output"
EXPENSE_OPS_DSN='postgresql://u:S3CRET-uri@[::1/db' "$WORKER" >"$WORK/baduri.out" 2>&1
check "a malformed DSN exits with code 2" [ $? -eq 2 ]
check "and its message leaves the password out" bash -c "! grep -q S3CRET '$WORK/baduri.out' && [ -s '$WORK/baduri.out' ]"
EXPENSE_OPS_DSN="host=$PGHOST port=$PGPORT dbname=$IT_DATABASE password='S3CRET kw' sslmode=bogus" \
  "$WORKER" >"$WORK/badopt.out" 2>&1
check "a DSN with a bad option value exits with code 2" [ $? -eq 2 ]
check "without the password in the output" bash -c "! grep -q S3CRET '$WORK/badopt.out'"
printf 'heartbeat-interval = 1\nhost=db password=S3CRET-line\n' >"$WORK/noequals.conf"
"$WORKER" --config "$WORK/noequals.conf" >"$WORK/noequals.out" 2>&1
check "a config line without '=' exits with code 2" [ $? -eq 2 ]
check "naming its line number, not echoing it" \
  bash -c "grep -q 'line 2' '$WORK/noequals.out' && ! grep -q S3CRET '$WORK/noequals.out'"
# A well-formed DSN of a server that is not there: the worker retries, and no retry line
# carries the password.
EXPENSE_OPS_DSN="postgresql://it_worker:S3CRET-retry@127.0.0.1:$(free_port 56900)/$IT_DATABASE?sslmode=disable" \
  "$WORKER" --reconnect-initial-delay 0.1 --reconnect-max-delay 0.2 >"$WORK/retry.log" 2>&1 &
WORKER_PID=$!
wait_until 10 bash -c "[ \$(grep -c '\"event\":\"connect_failed\"' '$WORK/retry.log') -ge 3 ]"
stop_worker
check "connection retries are logged" grep -q '"event":"connect_failed"' "$WORK/retry.log"
check "without the password" bash -c "! grep -q S3CRET '$WORK/retry.log'"

echo "# the database goes away and comes back"
start_worker "$WORK/outage.log" --heartbeat-interval 1 --reconnect-initial-delay 0.2 --reconnect-max-delay 0.8
wait_until 10 health_is ok
cluster_stop "$CLUSTER_BASE"
check "the worker notices the lost connection" wait_until 10 grep -q '"event":"connection_lost"' "$WORK/outage.log"
sleep 3
check "it keeps running while the database is down" worker_running
retries=$(count_events "$WORK/outage.log" connect_failed)
check "it logs one line per retry ($retries so far)" [ "$retries" -ge 3 ]
delays=$(grep -o '"retry_in_seconds":[0-9.]*' "$WORK/outage.log" | cut -d: -f2 | tr '\n' ' ')
check "the delays double and stop at the cap (${delays% })" \
  bash -c "[[ '$delays' == '0.2 0.4 0.8 0.8 '* ]]"
cluster_start "$CLUSTER_BASE"
check "it reconnects once the database is back" \
  wait_until 15 bash -c "[ \$(grep -c '\"event\":\"connected\"' '$WORK/outage.log') -ge 2 ]"
check "and health is ok again" wait_until 10 health_is ok

echo "# a PostgreSQL restart under the worker"
before=$(last_seen)
cluster_restart "$CLUSTER_BASE"
check "the worker survives a restart" wait_until 15 bash -c "[ \$(grep -c '\"event\":\"connected\"' '$WORK/outage.log') -ge 3 ]"
check "the same worker process is still running" worker_running
check "its heartbeats continue after the restart" \
  wait_until 10 bash -c "[ \"\$(psql -X -A -t -d $IT_DATABASE -c \"SELECT extract(epoch FROM last_seen) > $before FROM ops.worker_heartbeats WHERE worker_id = 'it-worker'\")\" = t ]"
stop_worker

echo "# identity and expenses through the PostgREST-shaped client (python3-jwt, non-superuser authenticator)"
# api_suite NAME SCRIPT: runs a python suite in a fresh database with the extension, passing it
# a superuser DSN and the authenticator's.
api_suite() {
  local name=$1 script=$2 database="expense_ops_$1"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
  psql -X -q -d "$database" -c "CREATE EXTENSION expense_ops"
  python_suite "$name" "$script" "host=$PGHOST port=$PGPORT dbname=$database user=postgres" \
    "host=$PGHOST port=$PGPORT dbname=$database user=it_authenticator"
  psql -X -q -d postgres -c "DROP DATABASE $database"
}
psql -X -q -d postgres -c "DROP ROLE IF EXISTS it_authenticator" -c "CREATE ROLE it_authenticator LOGIN NOINHERIT" \
  -c "GRANT expense_anon, expense_user TO it_authenticator"
api_suite identity "$here/identity_test.py"
api_suite expenses "$here/expenses_test.py"
api_suite workflow "$here/workflow_test.py"
api_suite expense_api "$here/expense_api_test.py"  # categories, rates, organisation, audit trail, races
api_suite users "$here/user_admin_test.py"
api_suite policy_cache "$here/policy_cache_test.py"  # the rules' cache across sessions
api_suite tickets "$here/tickets_test.py"
psql -X -q -d postgres -c "DROP ROLE it_authenticator"

echo "# streaming replication"
run_replica_tests

echo "# the demo data of make run loads, and its users log in"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS expense_ops_demo" -c "CREATE DATABASE expense_ops_demo"
if psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d expense_ops_demo -c "CREATE EXTENSION expense_ops" \
     -f "$root/scripts/demo-data.sql" >"$WORK/demo.out" 2>&1; then
  pass "scripts/demo-data.sql loads"
else
  fail "scripts/demo-data.sql loads" "$(tail -5 "$WORK/demo.out")"
fi
states=$(psql -X -A -t -d expense_ops_demo -c "SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM expense.expenses")
check "its expenses are in every state ($states)" [ "$states" = "approved,draft,reimbursed,rejected,submitted" ]
currencies=$(psql -X -A -t -d expense_ops_demo -c "SELECT count(DISTINCT currency) FROM expense.expenses")
check "in several currencies ($currencies)" [ "$currencies" -ge 3 ]
check "ana@example.com logs in with the password 'secret'" \
  [ "$(psql -X -A -t -d expense_ops_demo -c "SELECT api.login('ana@example.com', 'secret') ? 'token'")" = t ]
kinds=$(psql -X -A -t -d expense_ops_demo -c "SELECT count(*) FROM (SELECT DISTINCT kind, priority FROM ops.tickets) k")
check "its tickets cover every kind and priority ($kinds of 20 pairs)" [ "$kinds" = 20 ]
board=$(psql -X -A -t -d expense_ops_demo -c "SELECT string_agg(DISTINCT s::text, ',' ORDER BY s::text)
  FROM ops.sla_board, unnest(ARRAY[response_state, resolution_state]) s")
check "its SLA board shows every clock state ($board)" [ "$board" = "at_risk,breached,met,on_track,paused" ]
psql -X -q -d postgres -c "DROP DATABASE expense_ops_demo"


echo "# the upgrade path"
"$here/upgrade_path.sh" >"$WORK/upgrade.out" 2>&1
if [ $? -eq 0 ]; then
  pass "ALTER EXTENSION UPDATE from the oldest version matches a fresh install"
else
  fail "ALTER EXTENSION UPDATE from the oldest version matches a fresh install" "$(tail -20 "$WORK/upgrade.out")"
fi
# The comparison must catch an update script that misses a change: one statement of each kind
# taken out of a copy of the newest update script, each in turn.
"$here/upgrade_path.sh" --self-check >"$WORK/upgrade-self-check.out" 2>&1
if [ $? -eq 0 ]; then
  pass "and it notices an update script missing a change ($(grep -c '^ok - caught' "$WORK/upgrade-self-check.out") kinds of statement tried)"
else
  fail "and it notices an update script missing a change" "$(grep -v '^ok\|^     ' "$WORK/upgrade-self-check.out" | tail -20)"
fi

echo "# data through upgrades: the demo's expenses at 0.2.0, its tickets at 0.3.0, then 0.4.0"
demo="$root/scripts/demo-data.sql"
tickets_from=$(grep -n "^-- Support tickets:" "$demo" | cut -d: -f1)
staff_from=$(grep -n "^-- Staff:" "$demo" | cut -d: -f1)
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS expense_ops_upgrade" -c "CREATE DATABASE expense_ops_upgrade"
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d expense_ops_upgrade -c "CREATE EXTENSION expense_ops VERSION '0.2.0'" \
  -f <(head -n $((tickets_from - 1)) "$demo") >"$WORK/upgrade-data.out" 2>&1 ||
  fail "the demo's expenses load at 0.2.0" "$(tail -5 "$WORK/upgrade-data.out")"
upgraded() { psql -X -A -t -d expense_ops_upgrade -c "$1"; }
due_times() { upgraded "SELECT md5(string_agg(ticket_id || ':' || response_due_at || ':' || resolution_due_at, ',' ORDER BY ticket_id)) FROM ops.tickets"; }
count_rows() {
  upgraded "SELECT (SELECT count(*) FROM expense.expenses) || '/' || (SELECT count(*) FROM expense.expense_events)
    || '/' || (SELECT count(*) FROM iam.users) || '/' || (SELECT count(*) FROM ops.tickets)
    || '/' || (SELECT count(*) FROM ops.ticket_events) || '/' || (SELECT count(*) FROM ops.sla_transitions)"
}
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d expense_ops_upgrade -c "ALTER EXTENSION expense_ops UPDATE TO '0.3.0'" \
  -f <(sed -n "${tickets_from},$((staff_from - 1))p" "$demo") >"$WORK/upgrade-data.out" 2>&1 ||
  fail "0.2.0 updates to 0.3.0 and the demo's tickets load" "$(tail -5 "$WORK/upgrade-data.out")"
# Rows indexed by the old, ASCII-only folding must be re-indexed for ICU's: the update rebuilds
# the duplicates index (a new relfilenode), and an index scan then finds the folded merchant.
upgraded "UPDATE expense.expenses SET merchant = 'BÄCKEREI MÜLLER' WHERE merchant = 'Taxi Berlin'" >/dev/null
index_file_before=$(upgraded "SELECT pg_relation_filenode('expense.expenses_duplicates')")
# A ticket written before 0.4.0 bounded labels, with 21 of them: the update must keep it.
upgraded "INSERT INTO ops.tickets (kind, priority, title, reporter, labels)
          SELECT 'bug', 'P3', 'Labelled before the limit', 'old@example.com', array_agg('label-' || i)
            FROM generate_series(1, 21) i" >/dev/null
due_before=$(due_times)
before=$(count_rows)
psql -X -q -v ON_ERROR_STOP=1 -d expense_ops_upgrade -c "ALTER EXTENSION expense_ops UPDATE" >"$WORK/upgrade-data.out" 2>&1
check "0.3.0 updates to the default version with data in place" \
  [ "$(upgraded "SELECT extversion FROM pg_extension WHERE extname = 'expense_ops'")" = \
    "$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/extension/expense_ops.control")" ]
check "expenses, their audit trail, users, tickets, their events and SLA transitions are all still there ($before)" \
  [ "$(count_rows)" = "$before" ]
check "every ticket keeps its due times" \
  [ "$(due_times)" = "$due_before" ]
check "ana@example.com still logs in" [ "$(upgraded "SELECT api.login('ana@example.com', 'secret') ? 'token'")" = t ]
labels_kept=$(upgraded "SELECT cardinality(labels) FROM ops.tickets WHERE title = 'Labelled before the limit'")
check "the 21 labels written before the limit are kept, and the update said so" \
  bash -c "[ '$labels_kept' = 21 ] && grep -q 'labels_bounded exceed it' '$WORK/upgrade-data.out'"
check "that limit stays NOT VALID, and every other new limit was validated" \
  [ "$(upgraded "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint
                 WHERE NOT convalidated AND connamespace IN ('iam'::regnamespace, 'ops'::regnamespace, 'expense'::regnamespace)")" = labels_bounded ]
check "and it holds for new writes: 21 labels are refused now" \
  bash -c "! psql -X -q -d expense_ops_upgrade -c \"UPDATE ops.tickets SET labels = labels || '{x}'::text[] WHERE title = 'Labelled before the limit'\" 2>/dev/null"
check "the duplicates index was rebuilt by the update" \
  [ "$(upgraded "SELECT pg_relation_filenode('expense.expenses_duplicates')")" != "$index_file_before" ]
check "and an index scan finds 'BÄCKEREI MÜLLER' as 'bäckerei müller'" \
  [ "$(upgraded "SET enable_seqscan = off; SET enable_bitmapscan = off;
      SELECT count(*) FROM expense.expenses e JOIN expense.expenses x USING (expense_id)
       WHERE (e.org_id, e.user_id, e.expense_date, e.amount_minor, e.currency, expense.normalize_merchant(e.merchant))
           = (x.org_id, x.user_id, x.expense_date, x.amount_minor, x.currency, 'bäckerei müller')
         AND x.merchant = 'BÄCKEREI MÜLLER'" | tail -1)" = 1 ]
if psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d expense_ops_upgrade -f <(tail -n +"$staff_from" "$demo") \
     >"$WORK/upgrade-data.out" 2>&1; then
  pass "the demo's staff load into the updated database"
else
  fail "the demo's staff load into the updated database" "$(tail -5 "$WORK/upgrade-data.out")"
fi
board_all=$(upgraded "SELECT count(*) || '/' || count(*) FILTER (WHERE org_id IS NULL) FROM ops.sla_board")
board_staff=$(upgraded "BEGIN; SET LOCAL ROLE expense_user;
  SELECT set_config('request.jwt.claims', '{\"sub\": \"b0000000-0000-4000-8000-0000000000ff\"}', true) IS NOT NULL;
  SELECT count(*) || '/' || count(*) FILTER (WHERE org_id IS NULL) FROM api.sla_board; COMMIT" | grep /)
check "and the staff user sees every open ticket on the board, internal ones included ($board_staff of $board_all)" \
  bash -c "[ '$board_staff' = '$board_all' ] && [ '${board_all#*/}' -gt 0 ]"
psql -X -q -d postgres -c "DROP DATABASE expense_ops_upgrade"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $IT_DATABASE" -c "DROP ROLE IF EXISTS it_worker"
summary
