#!/usr/bin/env bash
# make run: the embedded default. Installs what is missing, builds, starts a throwaway cluster
# under .run/ with the extension, demo data and the worker, prints how to connect, and follows
# the worker's log until Ctrl-C, which stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/cluster.sh

scripts/install-deps.sh
echo "== building"
make -s >/dev/null
install_extension
make -s cmake-build >/dev/null

run_dir=$root/.run
base=$run_dir/cluster
database=expense_ops
worker_log=$run_dir/worker.log
worker_wrapper=
tail_pid=

stop_everything() {
  # Nothing interrupts the cleanup: not a second Ctrl-C, not the terminal closing, and not a
  # reader of our output that died with the first Ctrl-C (so: stop first, talk after).
  trap '' INT TERM HUP PIPE
  trap - EXIT
  set +e  # every step runs, whatever the one before it found
  if [ -n "$worker_wrapper" ]; then
    pkill -TERM -P "$worker_wrapper" 2>/dev/null
    wait "$worker_wrapper" 2>/dev/null
  fi
  if [ -n "$tail_pid" ]; then
    kill "$tail_pid" 2>/dev/null
  fi
  cluster_stop "$base"
  echo
  echo "== stopped the worker and the cluster; their files stay in .run/ until the next make run"
}

# A cluster left over from an earlier run (even one killed hard) is stopped and replaced.
mkdir -p "$run_dir"
cluster_stop "$base"
rm -rf "$(readlink -f "$base")" "$base"
port=$(free_port "${EXPENSE_OPS_PORT:-54329}")

echo "== starting PostgreSQL 15 on 127.0.0.1:$port"
cluster_create "$base" "$port" pg_stat_statements
# The server's own errors flow into ops.error_events: PostgreSQL writes jsonlog to one file of a
# fixed name, which the worker ships (docs/worker.md, "Log shipping").
pglog=$(cd "$base" && pwd -P)/pglog
as_server_user mkdir -m 0755 -p "$pglog"
as_server_user tee -a "$base/data/postgresql.conf" >/dev/null <<CONF
logging_collector = on
log_destination = 'stderr,jsonlog'
log_directory = '$pglog'
log_filename = 'postgresql.log'
log_file_mode = 0644
log_rotation_age = 0
log_rotation_size = 0
CONF
trap stop_everything INT TERM HUP EXIT
cluster_start "$base"
cluster_env "$base" "$port"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $database"
# pg_stat_statements (preloaded above) feeds ops.sample_statements() and ops.slow_statements().
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d "$database" -c "CREATE EXTENSION expense_ops" \
  -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -f scripts/demo-data.sql \
  -f scripts/demo-monitoring.sql
# No PostgREST runs here, so the API's checks (http, against ops.monitoring_settings.base_url)
# stay off; docs/worker.md says how to point them at one and turn them on.
psql -X -q -v ON_ERROR_STOP=1 -d "$database" -c "UPDATE ops.checks SET enabled = false WHERE kind = 'http'"

: >"$worker_log"
# The worker runs under a wrapper that notes its exit in the log: killing the worker (to watch
# api.health() turn degraded) leaves the cluster up, and Ctrl-C still stops both.
(
  status=0
  # The DSN goes in the environment, not on the command line where ps shows it.
  # The seeded db check "database" connects with the connection named primary.
  EXPENSE_OPS_DSN="host=127.0.0.1 port=$port dbname=$database user=expense_ops_worker_login" \
  EXPENSE_OPS_CHECK_CONNECTION="primary: host=127.0.0.1 port=$port dbname=$database user=expense_ops_worker_login" \
  EXPENSE_OPS_HOST_DISK_PATH="$(readlink -f "$base")" \
  EXPENSE_OPS_SHIP_LOG="postgres:jsonlog:$pglog/postgresql.json" \
    build/expense-ops-worker --worker-id "run-$(hostname)" || status=$?
  echo "{\"event\":\"worker_exited\",\"status\":$status,\"note\":\"make run keeps the cluster up; api.health() turns degraded\"}"
) >>"$worker_log" 2>&1 &
worker_wrapper=$!

for _ in $(seq 1 150); do
  [ "$(psql -X -A -t -d "$database" -c "SELECT api.health()->>'status'")" = ok ] && break
  sleep 0.2
done

dsn="postgresql://postgres@127.0.0.1:$port/$database"
cat <<INFO

== expense_ops is running
connect:     psql "$dsn"
worker role: expense_ops_worker_login (log: .run/worker.log)
PostgREST:   db-uri = "postgresql://authenticator@127.0.0.1:$port/$database"
             db-schemas = "api", db-anon-role = "expense_anon"

SELECT jsonb_pretty(api.health());
INFO
psql -X -A -t -d "$database" -c "SELECT jsonb_pretty(api.health())"
echo
echo "SELECT api.health_db()->>'status';  -- $(psql -X -A -t -d "$database" -c "SELECT api.health_db()->>'status'")"
echo
echo "SELECT ticket_id, kind, priority, state, response_state, resolution_state, time_to_breach FROM ops.sla_board;"
psql -X -d "$database" -c "SELECT ticket_id, kind, priority, state, response_state, resolution_state,
                                  date_trunc('minute', time_to_breach) AS time_to_breach, title
                             FROM ops.sla_board"
show() {  # show TITLE SQL: the query as a DBA would type it, then its answer
  echo
  echo "-- $1"
  echo "$2;"
  psql -X -d "$database" -c "$2"
}
echo
echo "== monitoring (synthetic demo data: scripts/demo-monitoring.sql; docs/monitoring.md)"
show "per-route P95 from the latency sketches, last 30 minutes" \
  "SELECT route, requests, round(p95_ms::numeric, 1) AS p95_ms, round(rate_5xx::numeric, 4) AS rate_5xx FROM ops.request_metrics(now() - interval '30 minutes')"
show "uptime per check over 30 days (maintenance left out, gaps unknown)" \
  "SELECT c.check_id, round(100.0 * sum(u.up) / nullif(sum(u.intervals), 0), 3) AS up_percent, round(100.0 * sum(u.unknown) / nullif(sum(u.intervals), 0), 3) AS unknown_percent, sum(u.incidents) AS incidents FROM ops.checks c, ops.uptime_daily(c.check_id, 30) u GROUP BY c.check_id ORDER BY 1"
show "alerts: firing, resolved, silenced and inhibited" \
  "SELECT rule, labels->>'host' AS host, labels->>'route' AS route, labels->>'check_id' AS check, state, silenced_by <> '{}' AS silenced, inhibited_by <> '{}' AS inhibited FROM ops.alert_status(now()) WHERE state <> 'inactive' ORDER BY state, rule"
show "the outbox" \
  "SELECT notification_id, channel, status, firing, resolved, payload->>'groupKey' AS group_key FROM ops.notifications ORDER BY notification_id"
show "the incident an alert opened" \
  "SELECT t.ticket_id, t.priority, t.title, t.opened_at, t.must_page, a.rule FROM ops.tickets t JOIN ops.alerts a ON a.incident_ticket_id = t.ticket_id"
echo
echo "== worker log (Ctrl-C stops the worker and the cluster)"
tail -n +1 -f "$worker_log" &
tail_pid=$!
wait "$tail_pid" || true
