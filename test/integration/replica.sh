# Streaming replication, for real: a standby made with pg_basebackup -R from the test cluster.
# Sourced by run.sh (it uses its helpers, the cluster environment and $WORKER, $WORK).
#   * health on both sides: a streaming standby is ok; cut off from its primary it says so
#     (api.health() and api.health_db()); a primary expecting a replica notices it is gone;
#   * the replay lag after an idle period is the pending WAL's, not the idle time;
#   * every read-only API endpoint answers on the standby (replica_api_test.py);
#   * the worker refuses to run against the standby instead of failing every write.

# standby_sql SQL [USER]: runs SQL on the standby, as USER (default: the cluster's superuser).
standby_sql() { psql -X -q -A -t -h "$STANDBY_BASE" -p "$STANDBY_PORT" -d "$REPLICA_DB" ${2:+-U "$2"} -c "$1"; }
primary_sql() { psql -X -q -A -t -d "$REPLICA_DB" -c "$1"; }
# Conditions to wait for (wait_until SECONDS CONDITION ARGS...).
receiver_streaming() { [ "$(standby_sql "SELECT status FROM pg_stat_wal_receiver")" = streaming ]; }
standby_health_is() { [ "$(standby_sql "SELECT api.health_db()->>'status'")" = "$1" ]; }
standby_caught_up() { [ "$(standby_sql "SELECT api.health_db()->'replication'->>'replay_lag_bytes'")" = 0 ]; }
standby_has_expected_replicas() { [ "$(standby_sql "SELECT expected_replicas FROM ops.health_settings")" = "$1" ]; }
standby_admits() { standby_sql "SELECT 1" "$1" >/dev/null 2>&1; }
standby_degraded_by_replication() {
  [ "$(standby_sql "SELECT h->>'status' = 'degraded' AND jsonb_path_exists(h, '\$.findings[*] ? (@.check == \"replication\")')
                      FROM api.health_db() h")" = t ]
}
primary_first_finding_says() { primary_sql "SELECT api.health_db()->'findings'->0->>'message'" | grep -q -- "$1"; }

run_replica_tests() {
  REPLICA_DB=expense_ops_replica
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $REPLICA_DB" -c "CREATE DATABASE $REPLICA_DB"
  psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d "$REPLICA_DB" -c "CREATE EXTENSION expense_ops" \
    -f "$root/scripts/demo-data.sql"

  STANDBY_BASE=$(mktemp -d /tmp/expense_ops_standby.XXXXXX)
  chown "$SERVER_USER": "$STANDBY_BASE" 2>/dev/null
  STANDBY_PORT=$(free_port $((PGPORT + 100)))
  if ! as_server_user "$PG_BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$STANDBY_BASE/data" \
       -R -X stream -c fast >"$WORK/basebackup.out" 2>&1; then
    fail "pg_basebackup -R makes a standby" "$(tail -5 "$WORK/basebackup.out")"
    return
  fi
  as_server_user tee -a "$STANDBY_BASE/data/postgresql.conf" >/dev/null <<CONF
port = $STANDBY_PORT
unix_socket_directories = '$STANDBY_BASE'
hot_standby = on
wal_retrieve_retry_interval = 1s
CONF
  cluster_start "$STANDBY_BASE" || { fail "the standby starts" "$(tail -5 "$STANDBY_BASE/server.log")"; return; }
  check "the standby streams from the primary" wait_until 30 receiver_streaming

  echo "# health on a streaming standby and its primary"
  wait_until 10 standby_health_is ok
  report=$(standby_sql "SELECT api.health_db()")
  check "a streaming standby's api.health_db() is ok, role standby, receiver streaming ($report)" \
    [ "$(standby_sql "SELECT h->>'status' || '/' || (h->'replication'->>'role') || '/' || (h->'replication'->>'wal_receiver')
                        FROM api.health_db() h")" = "ok/standby/streaming" ]
  check "its api.health() shows the receiver streaming and no replication finding" \
    [ "$(standby_sql "SELECT (h->'replication'->>'streaming') || '/' ||
                        NOT jsonb_path_exists(h, '\$.findings[*] ? (@.check == \"replication\")') FROM api.health() h")" = "true/true" ]
  check "the primary sees one streaming replica" \
    [ "$(primary_sql "SELECT api.health_db()->'replication'->>'streaming_replicas'")" = 1 ]
  primary_sql "UPDATE ops.health_settings SET expected_replicas = 1" >/dev/null
  wait_until 10 standby_has_expected_replicas 1
  check "expecting one replica, with one streaming, the primary is ok" \
    [ "$(primary_sql "SELECT api.health_db()->>'status'")" = ok ]

  echo "# the replay lag after an idle period"
  # Replay waits 2 s behind its primary, so a commit stays received-but-unreplayed that long.
  as_server_user tee -a "$STANDBY_BASE/data/postgresql.conf" >/dev/null <<<"recovery_min_apply_delay = '2s'"
  as_server_user "$PG_BIN/pg_ctl" -D "$STANDBY_BASE/data" reload >/dev/null
  sleep 6  # idle: nothing to replay
  primary_sql "UPDATE ops.sla_settings SET next_release_fallback = next_release_fallback" >/dev/null
  samples=""
  for _ in 1 2 3 4 5 6; do
    samples+="$(standby_sql "SELECT (h->'replication'->>'replay_lag_bytes') || ':' || (h->'replication'->>'replay_lag_seconds')
                             FROM api.health_db() h") "
    sleep 0.25
  done
  check "while the commit waits to be replayed, the standby shows pending bytes ($samples)" \
    bash -c "echo '$samples' | tr ' ' '\n' | grep -qv '^0:'"
  check "and a lag of the pending WAL's age (under 4 s), not the 6 idle seconds ($samples)" \
    bash -c "echo '$samples' | tr ' ' '\n' | grep -v '^$' | cut -d: -f2 | awk '\$1 >= 4 { bad = 1 } END { exit bad }'"
  as_server_user sed -i "/recovery_min_apply_delay/d" "$STANDBY_BASE/data/postgresql.conf"
  as_server_user "$PG_BIN/pg_ctl" -D "$STANDBY_BASE/data" reload >/dev/null

  echo "# the read-only API on the standby"
  wait_until 10 standby_caught_up
  psql -X -q -d postgres -c "DROP ROLE IF EXISTS it_authenticator" -c "CREATE ROLE it_authenticator LOGIN NOINHERIT" \
    -c "GRANT expense_anon, expense_user TO it_authenticator"
  wait_until 10 standby_admits it_authenticator
  python_suite replica "$here/replica_api_test.py" "host=$PGHOST port=$PGPORT dbname=$REPLICA_DB user=postgres" \
    "host=$PGHOST port=$PGPORT dbname=$REPLICA_DB user=it_authenticator" \
    "host=$STANDBY_BASE port=$STANDBY_PORT dbname=$REPLICA_DB user=it_authenticator"
  psql -X -q -d postgres -c "DROP ROLE it_authenticator"

  echo "# the worker against a standby"
  psql -X -q -d postgres -c "DROP ROLE IF EXISTS it_worker" -c "CREATE ROLE it_worker LOGIN IN ROLE expense_ops_worker"
  wait_until 10 standby_admits it_worker
  EXPENSE_OPS_DSN="host=$STANDBY_BASE port=$STANDBY_PORT dbname=$REPLICA_DB user=it_worker" \
    "$WORKER" --worker-id it-standby --heartbeat-interval 0.2 --reconnect-initial-delay 0.2 --reconnect-max-delay 0.4 \
    >"$WORK/standby-worker.log" 2>&1 &
  WORKER_PID=$!
  sleep 3
  check "the worker connected to a standby keeps running" worker_running
  stop_worker
  check "it says once, clearly, that it refuses a standby" \
    [ "$(grep -c '"level":"warning","event":"standby_refused"' "$WORK/standby-worker.log")" = 1 ]
  check "and retries with backoff instead of failing writes (no 25006, no SQL in its log)" \
    bash -c "! grep -q -e 25006 -e 'INSERT INTO' -e 'SELECT ops' '$WORK/standby-worker.log'"

  echo "# a standby cut off from its primary, and a primary without its replica"
  cluster_stop "$CLUSTER_BASE"
  check "without its primary the standby's api.health_db() is degraded, naming replication" \
    wait_until 20 standby_degraded_by_replication
  health=$(standby_sql "SELECT api.health()")
  check "and its api.health() names replication as the first finding ($health)" \
    [ "$(standby_sql "SELECT h->>'status' || '/' || (h->'findings'->0->>'check') FROM api.health() h")" = "degraded/replication" ]
  cluster_start "$CLUSTER_BASE"
  check "once the primary is back, the standby streams again and is ok" \
    wait_until 30 standby_health_is ok
  cluster_stop "$STANDBY_BASE"
  check "the primary expecting one replica is degraded once its only replica is gone" \
    wait_until 20 primary_first_finding_says '0 of 1 expected replicas stream'
  rm -rf "$STANDBY_BASE"
  psql -X -q -d postgres -c "DROP DATABASE $REPLICA_DB"
}
