#!/usr/bin/env bash
# make run: the embedded default. Installs what is missing, builds, starts a throwaway cluster
# under .run/ with the extension, demo data and the worker, an nginx as the live HTTP target
# and SYNTHETIC traffic, prints how to connect, and follows the worker's log until Ctrl-C, which
# stops everything.
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
worker_conf=$run_dir/worker.conf
nginx_base=$run_dir/nginx
traffic_log=$run_dir/traffic.json
worker_wrapper=
backup_wrapper=
tail_pid=
traffic_pid=
nginx_dir=

# nginx runs from its own prefix (scripts/demo-nginx.conf says why): NGINX_DIR/nginx.conf.
nginx_in() {
  local dir=$1
  shift
  as_server_user /usr/sbin/nginx -p "$dir/" -c nginx.conf -e error.log "$@"
}

# nginx_stop DIR: a fast shutdown of the nginx whose pid file is in DIR; quiet when none runs.
nginx_stop() {
  local dir pid
  dir=$(cd "$1" 2>/dev/null && pwd -P) || return 0
  pid=$(cat "$dir/nginx.pid" 2>/dev/null) || return 0
  # A pid file that outlived its nginx (a kill -9, a reboot) may name another process by now.
  [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = nginx ] || return 0
  nginx_in "$dir" -s stop 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

stop_everything() {
  # Nothing interrupts the cleanup: not a second Ctrl-C, not the terminal closing, and not a
  # reader of our output that died with the first Ctrl-C (so: stop first, talk after).
  trap '' INT TERM HUP PIPE
  trap - EXIT
  set +e  # every step runs, whatever the one before it found
  if [ -n "$traffic_pid" ]; then
    kill "$traffic_pid" 2>/dev/null
    wait "$traffic_pid" 2>/dev/null
  fi
  if [ -n "$worker_wrapper" ]; then
    pkill -TERM -P "$worker_wrapper" 2>/dev/null
    wait "$worker_wrapper" 2>/dev/null
  fi
  if [ -n "$backup_wrapper" ]; then
    pkill -TERM -P "$backup_wrapper" 2>/dev/null
    wait "$backup_wrapper" 2>/dev/null
  fi
  if [ -n "$tail_pid" ]; then
    kill "$tail_pid" 2>/dev/null
  fi
  if [ -n "$nginx_dir" ]; then
    nginx_stop "$nginx_dir"
  fi
  cluster_stop "$base"
  echo
  echo "== stopped the traffic, the workers, nginx and the cluster; their files stay in .run/ until the next make run"
}

# A cluster and an nginx left over from an earlier run (even one killed hard) are stopped and
# replaced, and so is the traffic they logged, which the new database would otherwise be sent.
mkdir -p "$run_dir"
cluster_stop "$base"
nginx_stop "$nginx_base"
rm -rf "$(readlink -f "$base")" "$base" "$(readlink -f "$nginx_base")" "$nginx_base" "$traffic_log"
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

# nginx, the live HTTP target: as the server user, like PostgreSQL, since CI runs this as root,
# on a loopback port of its own, with everything it writes under its prefix.
cluster_prepare_base "$nginx_base"
nginx_dir=$(cd "$nginx_base" && pwd -P)
http_port=$(free_port "${EXPENSE_OPS_HTTP_PORT:-54380}")
metrics_port=$(free_port "${EXPENSE_OPS_METRICS_PORT:-9470}")
# Its configuration stays ours: nginx reads it, and may not change it.
install -m 0644 scripts/demo-nginx.conf "$nginx_dir/nginx.conf"
echo "listen 127.0.0.1:$http_port;" >"$nginx_dir/listen.conf"
chmod 0644 "$nginx_dir/listen.conf"
echo "== starting nginx on 127.0.0.1:$http_port"
nginx_in "$nginx_dir"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $database"
# pg_stat_statements (preloaded above) feeds ops.sample_statements() and ops.slow_statements().
# nginx_url adds the check of that nginx to the demo's monitoring.
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d "$database" -v nginx_url="http://127.0.0.1:$http_port" \
  -c "CREATE EXTENSION expense_ops" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
  -f scripts/demo-data.sql -f scripts/demo-monitoring.sql
# No PostgREST runs here, so the API's checks (http, relative to ops.monitoring_settings.base_url)
# stay off; docs/worker.md says how to point them at one and turn them on. The nginx check has
# a URL of its own and stays on.
psql -X -q -v ON_ERROR_STOP=1 -d "$database" \
  -c "UPDATE ops.checks SET enabled = false WHERE kind = 'http' AND target LIKE '/%'"
# The demo's log channel tells of a change within 10 s rather than Alertmanager's 5 minutes, so
# that stopping nginx shows a notification line as soon as HealthCheckDown fires.
psql -X -q -v ON_ERROR_STOP=1 -d "$database" \
  -c "UPDATE ops.notification_channels SET group_interval = '10 seconds' WHERE channel = 'log'"

# The files the worker ships. The environment holds one EXPENSE_OPS_SHIP_LOG at most, so they
# go in a configuration file (mode 0600, as docs/worker.md asks of one, though this one holds no
# secret): PostgreSQL's errors, nginx's access log, and the SYNTHETIC traffic's, kept apart
# from what nginx really answered (ops.log_offsets counts each source).
(
  umask 077
  cat >"$worker_conf" <<CONF
# Written by scripts/run.sh for this make run (docs/worker.md, "Log shipping").
ship-log = postgres:jsonlog:$pglog/postgresql.json
ship-log = nginx:json:$nginx_dir/access.json
ship-log = synthetic:json:$traffic_log
listen-address = 127.0.0.1:$metrics_port
CONF
)

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
    build/expense-ops-worker --config "$worker_conf" --worker-id "run-$(hostname)" || status=$?
  echo "{\"event\":\"worker_exited\",\"status\":$status,\"note\":\"make run keeps the cluster up; api.health() turns degraded\"}"
) >>"$worker_log" 2>&1 &
worker_wrapper=$!

for _ in $(seq 1 150); do
  [ "$(psql -X -A -t -d "$database" -c "SELECT api.health()->>'status'")" = ok ] && break
  sleep 0.2
done

# The backup job set (docs/backups.md), as its systemd unit runs it: as the cluster's OS owner,
# with a replication connection. No backup exists, so it takes one at once, verifies it, and
# runs a restore test into a scratch directory.
backup_base=$run_dir/backup
rm -rf "$(readlink -f "$backup_base")" "$backup_base"
cluster_prepare_base "$backup_base"
backup_base=$(cd "$backup_base" && pwd -P)
backup_log=$run_dir/backup.log
backup_port=$(free_port $((metrics_port + 1)))
install -m 0755 build/expense-ops-worker "$backup_base/expense-ops-worker"
as_server_user tee "$backup_base/backup.conf" >/dev/null <<CONF
# Written by scripts/run.sh for this make run (docs/backups.md).
dsn = host=127.0.0.1 port=$port dbname=$database user=expense_ops_backup_login
replication-dsn = host=127.0.0.1 port=$port user=postgres
backup-directory = $backup_base/backups
scratch-directory = $backup_base/scratch
postgres-bin = $PG_BIN
listen-address = 127.0.0.1:$backup_port
worker-id = run-backup-$(hostname)
CONF
as_server_user chmod 0600 "$backup_base/backup.conf"
: >"$backup_log"
(
  status=0
  as_server_user "$backup_base/expense-ops-worker" --jobs backup --config "$backup_base/backup.conf" ||
    status=$?
  echo "{\"event\":\"worker_exited\",\"status\":$status}"
) >>"$backup_log" 2>&1 &
backup_wrapper=$!

# SYNTHETIC requests, five a second, with a minute of 5xx every ten minutes (the first at once):
# written as access-log lines rather than sent to nginx, because nginx's own answers all take
# 0.000 s and the latency metrics would have nothing to show (docs/worker.md, "The make run demo").
python3 scripts/demo-traffic.py --output "$traffic_log" --rate 5 --burst-5xx 60 --burst-every 600 \
  >"$run_dir/traffic.log" 2>&1 &
traffic_pid=$!

dsn="postgresql://postgres@127.0.0.1:$port/$database"
cat <<INFO

== expense_ops is running
connect:     psql "$dsn"
worker role: expense_ops_worker_login (log: .run/worker.log)
PostgREST:   db-uri = "postgresql://authenticator@127.0.0.1:$port/$database"
             db-schemas = "api", db-anon-role = "expense_anon"
nginx:       http://127.0.0.1:$http_port/ (access log: .run/nginx/access.json, checked every 10 s;
             stop it to watch HealthCheckDown fire: kill -QUIT \$(cat .run/nginx/nginx.pid))
traffic:     SYNTHETIC, scripts/demo-traffic.py into .run/traffic.json, shipped as "synthetic"
worker:      http://127.0.0.1:$metrics_port/metrics and /healthz; the log channel's notifications are
             the "event":"notification" lines of .run/worker.log
backups:     expense-ops-worker --jobs backup as postgres, role expense_ops_backup_login (log: .run/backup.log,
             /metrics on $backup_port):
             basebackup into .run/backup/backups, restore tests in .run/backup/scratch

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
echo "== backups (docs/backups.md): the first one, its verification and a restore test"
for _ in $(seq 1 120); do
  [ "$(psql -X -A -t -d "$database" -c "SELECT count(*) FROM ops.restore_tests WHERE status <> 'running'")" -ge 1 ] && break
  sleep 0.5
done
show "backups, as staff read them (GET /backups)" \
  "SELECT backup_id, backend, status, pg_size_pretty(bytes) AS size, round(backup_seconds::numeric, 1) AS backup_s, round(verify_seconds::numeric, 1) AS verify_s, started_at FROM api.backups"
show "restore tests with the measured RTO (GET /restore_tests)" \
  "SELECT restore_test_id, backup_id, status, round(rto_seconds::numeric, 1) AS rto_s, (SELECT string_agg(c->>'check' || CASE WHEN (c->>'passed')::boolean THEN ' ok' ELSE ' FAILED' END, ', ') FROM jsonb_array_elements(checks) c) AS checks FROM api.restore_tests"
show "RPO and RTO in the staff detail of api.health_db()" \
  "SELECT jsonb_pretty(api.health_db()->'backups')"
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
echo "== worker log (Ctrl-C stops the traffic, the worker, nginx and the cluster)"
tail -n +1 -f "$worker_log" &
tail_pid=$!
wait "$tail_pid" || true
