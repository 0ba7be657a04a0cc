#!/usr/bin/env bash
# Backups of a 2 GB database (issue 12): pgbench's tables at scale 135 (about 2 GB) beside the
# extension. The backup job set (expense-ops-worker --jobs backup, basebackup backend, as the
# server's OS user) takes its first backup at once, verifies it and runs a restore test; the
# figures are what it records in ops.backups and ops.restore_tests. The peer, in the same run,
# before and after: tar of the same data directory into a file on the same disk (the naive
# copy; it has no consistency, no WAL and no manifest). Reported as ratios:
#   - the backup (pg_basebackup with its WAL and a CRC32C manifest) against tar;
#   - the verification (pg_verifybackup) against the backup and against tar;
#   - the measured RTO (restore to passing checks) against tar;
#   - the restore test's checks against the bare restore (copy, start, recovery).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/worker_lib.sh
source "$here/worker_lib.sh"
scale=${BENCH_BACKUP_SCALE:-135}
db=$BENCH_DATABASE
work=$BENCH_WORK/backup
rm -rf "$work"
mkdir -p "$work" "$here/results"
chown "$SERVER_USER": "$work" 2>/dev/null || true
chmod 755 "$work"
worker_pid=
# The worker runs under runuser in a background subshell: the signal goes to the worker itself.
stop_worker() {
  pkill -TERM -f "^$work/expense-ops-worker " 2>/dev/null || true
  wait "$worker_pid" 2>/dev/null || true
  worker_pid=
}
cleanup() {
  if [ -n "$worker_pid" ]; then
    stop_worker
  fi
  rm -rf "$work"
  psql -X -q -d "$db" -c "DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers" \
    >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "backup: pgbench -i -s $scale (about $((scale * 15)) MB) ..." >&2
"$PG_BIN/pgbench" -i -q -s "$scale" "$db" >/dev/null 2>&1
psql -X -q -d "$db" -c "CHECKPOINT"
size=$(psql -X -A -t -d postgres -c "SELECT pg_size_pretty(sum(pg_database_size(datname))) FROM pg_database")
data=$(psql -X -A -t -d postgres -c "SHOW data_directory")

tar_seconds() {
  local start end
  start=$(date +%s.%N)
  tar -cf "$work/peer.tar" -C "$(dirname "$data")" "$(basename "$data")" 2>/dev/null || true
  sync -f "$work"
  end=$(date +%s.%N)
  rm -f "$work/peer.tar"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}
tar_before=$(tar_seconds)

# The backup worker as its unit runs it: the server's OS user, a configuration file.
install -m 0755 "$WORKER" "$work/expense-ops-worker"
as_server_user mkdir -p "$work/backups" "$work/scratch"
as_server_user tee "$work/backup.conf" >/dev/null <<CONF
dsn = host=$PGHOST port=$PGPORT dbname=$db user=postgres
replication-dsn = host=$PGHOST port=$PGPORT user=postgres
backup-directory = $work/backups
scratch-directory = $work/scratch
postgres-bin = $PG_BIN
listen-address =
log-level = warn
CONF
started=$(date +%s)
as_server_user "$work/expense-ops-worker" --jobs backup --config "$work/backup.conf" >"$work/worker.log" 2>&1 &
worker_pid=$!
until [ "$(psql -X -A -t -d "$db" -c "SELECT count(*) FROM ops.restore_tests WHERE status <> 'running'")" -ge 1 ]; do
  if ! kill -0 "$worker_pid" 2>/dev/null || [ $(($(date +%s) - started)) -gt 1800 ]; then
    echo "the backup worker did not finish a restore test:" >&2
    tail -5 "$work/worker.log" >&2
    exit 1
  fi
  sleep 1
done
stop_worker
tar_after=$(tar_seconds)

read -r backup_s verify_s bytes status < <(psql -X -A -t -F ' ' -d "$db" -c \
  "SELECT round(backup_seconds::numeric, 2), round(verify_seconds::numeric, 2), bytes, status FROM ops.backups ORDER BY backup_id LIMIT 1")
read -r restore_s rto_s test_status < <(psql -X -A -t -F ' ' -d "$db" -c \
  "SELECT round(restore_seconds::numeric, 2), round(rto_seconds::numeric, 2), status FROM ops.restore_tests ORDER BY restore_test_id LIMIT 1")
checks=$(psql -X -A -t -d "$db" -c "SELECT string_agg((c->>'check') || ' ' || round((c->>'seconds')::numeric, 2) || ' s', ', ')
                                       FROM ops.restore_tests t, jsonb_array_elements(t.checks) c WHERE t.restore_test_id = 1")
if [ "$status" != verified ] || [ "$test_status" != passed ]; then
  echo "backup $status, restore test $test_status: see $work/worker.log" >&2
  exit 1
fi
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
tar_best=$(calc "$tar_before < $tar_after ? $tar_before : $tar_after")
ratio() { calc "$1 / $2"; }
day=$(date +%F)
gib=$(calc "$bytes / 1073741824")
{
  echo "| $day | backup of a $size cluster (pgbench scale $scale and the extension), basebackup backend: pg_basebackup plain, WAL streamed, CRC32C manifest ($gib GiB) | $backup_s s, $(ratio "$backup_s" "$tar_best")x tar | tar of the data directory to a file on the same disk, before and after: $tar_before and $tar_after s |"
  echo "| $day | its verification, pg_verifybackup (manifest checksums and WAL) | $verify_s s: $(ratio "$verify_s" "$backup_s")x the backup, $(ratio "$verify_s" "$tar_best")x tar | the backup and tar above |"
  echo "| $day | the measured RTO of that backup: restore test from the start of the restore to passing checks | $rto_s s (bare restore to a server taking writes: $restore_s s), $(ratio "$rto_s" "$tar_best")x tar | tar above |"
  echo "| $day | the restore test's checks against the bare restore | $(calc "$rto_s - $restore_s") s of checks, $(ratio "$(calc "$rto_s - $restore_s")" "$restore_s")x the bare restore ($checks) | the bare restore above |"
} | tee -a "$here/results/backup.md"
