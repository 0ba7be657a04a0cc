# shellcheck shell=bash
# Helpers for the worker's benchmarks (worker_delivery_latency.sh, worker_delivery_rate.sh,
# worker_checks.sh, worker_log_shipping.sh): the worker's LOGIN role, the worker itself with the
# jobs not under test quietened, and nginx as a fast local HTTP peer. Source this file;
# BENCH_DATABASE and BENCH_WORK come from run.sh, WORKER may name another worker binary.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
source "$bench_root/scripts/cluster.sh"  # as_server_user, free_port, cluster_prepare_base

WORKER=${WORKER:-$bench_root/build/expense-ops-worker}
# The helper scripts need psycopg2, which Debian's python3 has (scripts/install-deps.sh).
BENCH_PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
# The jobs a benchmark does not measure run once at start and then stay out of the way.
BENCH_QUIET_JOBS=(--heartbeat-interval 60 --evaluate-alerts-interval 3600 --sla-refresh-interval 3600
  --rollup-requests-interval 3600 --maintain-partitions-interval 3600 --sample-statements-interval 3600
  --host-samples-interval 3600)

# The worker's role holds nothing but expense_ops_worker's privileges (docs/worker.md).
bench_worker_role() {
  psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DATABASE" -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_worker') THEN
        CREATE ROLE bench_worker LOGIN IN ROLE expense_ops_worker;
      END IF; END \$\$"
}

bench_worker_dsn() {
  echo "host=$PGHOST port=$PGPORT dbname=$BENCH_DATABASE user=bench_worker"
}

# bench_worker_start LOG WORKER_ID ARGS...: the worker in the background, at log level warn (a
# debug line per delivery costs), its DSN in the environment; sets bench_worker_pid (global).
# Returns once its first heartbeat is in, so that its jobs are connected.
bench_worker_start() {
  local log=$1 id=$2
  shift 2
  # A worker with /metrics and /healthz would have several on one host fight for the port.
  local status=()
  if "$WORKER" --help 2>/dev/null | grep -q -- '--listen-address'; then
    status=(--listen-address '')
  fi
  (
    for variable in $(compgen -e | grep '^EXPENSE_OPS_' || true); do unset "$variable"; done
    export EXPENSE_OPS_DSN
    EXPENSE_OPS_DSN=$(bench_worker_dsn)
    exec "$WORKER" --worker-id "$id" --log-level warn "${status[@]}" "${BENCH_QUIET_JOBS[@]}" "$@"
  ) >"$log" 2>&1 &
  bench_worker_pid=$!
  local i
  for i in $(seq 1 100); do
    if [ "$(psql -X -q -At -d "$BENCH_DATABASE" -c "SELECT count(*) FROM ops.worker_heartbeats
          WHERE worker_id = '$id' AND pid = $bench_worker_pid")" = 1 ]; then
      sleep 1.5  # the other jobs connect, and make their first runs, beside the heartbeat's
      return 0
    fi
    if ! kill -0 "$bench_worker_pid" 2>/dev/null; then
      echo "the worker exited at start:" >&2
      tail -5 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the worker sent no heartbeat within 10 s:" >&2
  tail -5 "$log" >&2
  return 1
}

# bench_worker_stop PID: SIGTERM, and wait for it to exit. A job in the middle of a long
# statement hears the SIGTERM only once the statement returns: after 15 s the worker role's
# running statements are cancelled, and after 20 s the worker is killed.
bench_worker_stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    if [ "$i" = 150 ]; then
      echo "the worker did not stop within 15 s of SIGTERM: cancelling its running statements" >&2
      psql -X -q -At -d "$BENCH_DATABASE" -c "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
                                            WHERE usename = 'bench_worker' AND state = 'active'" >/dev/null
    fi
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# bench_worker_cpu_ticks PID: user + system CPU time of the process so far, in clock ticks.
bench_worker_cpu_ticks() {
  # Fields 14 and 15 of /proc/PID/stat; the name in parentheses may hold spaces, so count
  # from after it (field 3 becomes 1).
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# bench_worker_session_ticks: CPU time so far of the server processes serving the worker role's
# sessions (their pids from pg_stat_activity), in clock ticks; a session that ended meanwhile
# is not counted.
bench_worker_session_ticks() {
  local pid total=0 ticks
  for pid in $(psql -X -q -At -d "$BENCH_DATABASE" -c "SELECT pid FROM pg_stat_activity WHERE usename = 'bench_worker'"); do
    ticks=$(bench_worker_cpu_ticks "$pid" 2>/dev/null) || continue
    total=$((total + ticks))
  done
  echo "$total"
}

# bench_disable_checks: turns off the seeded checks for the time of a benchmark; prints the ids
# that were on, for bench_enable_checks.
bench_disable_checks() {
  psql -X -q -At -d "$BENCH_DATABASE" <<'SQL'
SELECT coalesce(string_agg(quote_literal(check_id), ','), '') FROM ops.checks WHERE enabled;
UPDATE ops.checks SET enabled = false WHERE enabled;
SQL
}

bench_enable_checks() {
  [ -n "$1" ] && psql -X -q -d "$BENCH_DATABASE" -c "UPDATE ops.checks SET enabled = true WHERE check_id IN ($1)"
  return 0
}

# nginx as the fast receiver and check target: `return 200` to everything, an access log of
# "Idempotency-Key receipt-time(ms) method status" lines. It runs as the cluster does: as the
# server user under root, from a prefix of its own (scripts/demo-nginx.conf says why).
# bench_nginx_start DIR: sets bench_nginx_port; the log is DIR/sink.log.
bench_nginx_start() {
  local dir=$1
  cluster_prepare_base "$dir"
  dir=$(cd "$dir" && pwd -P)
  bench_nginx_port=$(free_port 58480)
  as_server_user tee "$dir/nginx.conf" >/dev/null <<CONF
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events {
  worker_connections 1000;  # under the default open-file limit of 1024
}
http {
  log_format sink '\$http_idempotency_key \$msec \$request_method \$status';
  access_log sink.log sink buffer=64k flush=100ms;
  client_body_temp_path client_body_temp;
  proxy_temp_path proxy_temp;
  fastcgi_temp_path fastcgi_temp;
  uwsgi_temp_path uwsgi_temp;
  scgi_temp_path scgi_temp;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  default_type application/json;
  server {
    listen 127.0.0.1:$bench_nginx_port backlog=4096;
    location / {
      return 200 '{"status":"ok"}';
    }
  }
}
CONF
  as_server_user /usr/sbin/nginx -p "$dir/" -c nginx.conf -e error.log
  local i
  for i in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$bench_nginx_port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nginx did not start:" >&2
  cat "$dir/error.log" >&2
  return 1
}

# bench_nginx_flush DIR: makes nginx write its buffered log lines (reopening its logs does).
bench_nginx_flush() {
  as_server_user /usr/sbin/nginx -p "$1/" -c nginx.conf -e error.log -s reopen
  sleep 0.3
}

bench_nginx_stop() {
  local dir=$1 pid
  pid=$(cat "$dir/nginx.pid" 2>/dev/null) || return 0
  [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = nginx ] || return 0
  as_server_user /usr/sbin/nginx -p "$dir/" -c nginx.conf -e error.log -s stop 2>/dev/null || true
}

# bench_hook_channel URL: the webhook channel bench-hook, to URL, not enabled (no evaluation
# queues anything for it; the benchmarks write their outbox rows themselves).
bench_hook_channel() {
  psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DATABASE" \
    -c "DELETE FROM ops.notification_channels WHERE channel = 'bench-hook'" \
    -c "INSERT INTO ops.notification_channels (channel, kind, target, enabled) VALUES ('bench-hook', 'webhook', '$1', false)"
}

# bench_outbox_history URL COUNT: the outbox as a live system has it, bench-hook's rows replaced
# by COUNT delivered ones, vacuumed and analyzed, so that the plans the worker's sessions make
# are made for a table of this size.
bench_outbox_history() {
  psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DATABASE" \
    -c "DELETE FROM ops.notifications WHERE channel = 'bench-hook'" \
    -c "INSERT INTO ops.notifications (channel, kind, target, group_key, idempotency_key, payload, firing, resolved,
                                       status, attempts, next_attempt_at, created_at, delivered_at)
        SELECT 'bench-hook', 'webhook', '$1', 'history-' || i, 'history-' || i, '{}', 1, 0, 'delivered', 1,
               now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
          FROM generate_series(1, $2) i" -c "VACUUM ANALYZE ops.notifications"
}
