#!/usr/bin/python3
"""Backups and recovery, for real (issue 12): the backup job set (expense-ops-worker --jobs
backup) against a throwaway cluster of its own, running as the server's OS user as its systemd
unit does, with the real pg_basebackup, pg_verifybackup, pg_ctl, pg_amcheck and pgbackrest.

basebackup backend:
  * a first backup at once (none exists), verified, and a restore test that passes every check,
    with its RTO; the configuration travels in the marker with its secrets removed; staff read
    api.backups and api.restore_tests and see RPO and RTO in api.health_db(), tenants see none;
  * a backup on request wakes the worker at once (NOTIFY), and ops.backup_gate() waits for it;
  * faults, each a clear record and an alert: a byte flipped in a backup (found by the restore
    test's verification), an unwritable backup directory, a full disk (a small tmpfs), a killed
    pg_basebackup (its partial files removed, the next backup good), a worker killed mid-backup,
    a restore that does not start, a marker missing.
Requests: two staff sessions asking at once make one request, not two; backups asked for
without pause do not hold off the restore test the schedule has due.
pgbackrest backend: WAL archived by archive-push, full and differential backups, verify, a
restore test and a point-in-time drill between two markers; a byte flipped in the repository.

Runs alone (prove, or /usr/bin/python3 FILE); see fixtures.py. Parts run by name:
  backup_test.py basebackup faults pgbackrest
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import psycopg2

import fixtures
from fixtures import cluster_sh, read, tail, wait_until
from postgrest import PostgREST
from tap import check, diag, finish

DATABASE = "expense_ops_backup"
PG_BIN = os.environ.get("PG_BIN") or "/usr/lib/postgresql/15/bin"  # as scripts/cluster.sh
SERVER_USER = fixtures.SERVER_USER


class Cluster:
    """A throwaway cluster for this file alone: its WAL, archiving and configuration change."""

    def __init__(self, base, port):
        self.base, self.port = base, port
        result = cluster_sh('cluster_create "$1" "$2" && cluster_start "$1"', base, str(port))
        if result.returncode != 0:
            raise RuntimeError("cannot create the backup test's cluster:\n" + result.stdout)
        # The backup worker logs in with the two roles docs/backups.md grants it, no more.
        self.dsn = f"host={base} port={port} dbname={DATABASE} user=it_backup_login"
        admin = self.connect("postgres")
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
        admin.close()
        self.admin = self.connect(DATABASE)
        self.sql("CREATE EXTENSION expense_ops")
        self.sql("CREATE ROLE it_backup_login LOGIN IN ROLE expense_ops_worker, expense_ops_backup")

    def connect(self, database=DATABASE):
        connection = psycopg2.connect(host=self.base, port=self.port, dbname=database, user="postgres")
        connection.autocommit = True
        return connection

    def sql(self, statement, params=()):
        with self.admin.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else None

    def value(self, statement, params=()):
        rows = self.sql(statement, params)
        return rows[0][0] if rows else None

    def set(self, **settings):
        for name, setting in settings.items():
            self.sql(f"ALTER SYSTEM SET {name} = %s", (setting,))

    def restart(self):
        self.admin.close()
        if cluster_sh('cluster_restart "$1"', self.base).returncode != 0:
            raise RuntimeError("the backup test's cluster does not restart:\n" + read(f"{self.base}/server.log")[-3000:])
        self.admin = self.connect(DATABASE)

    def crashes(self):
        return cluster_sh('cluster_crashes "$1"', self.base).stdout.strip()

    def close(self):
        try:
            self.admin.close()
        finally:
            cluster_sh('cluster_stop "$1"', self.base)


class BackupWorker:
    """expense-ops-worker --jobs backup as the server's OS user, with a configuration file."""

    def __init__(self, work, name, cluster, *options, worker_id=None):
        self.log = os.path.join(work, f"{name}.log")
        self.config = os.path.join(work, f"{name}.conf")
        with open(self.config, "w") as file:
            file.write(f"dsn = {cluster.dsn}\n"
                       f"replication-dsn = host={cluster.base} port={cluster.port} user=postgres\n"
                       f"secret = pager:https://hooks.example/T0PSECRET\n"
                       f"postgres-bin = {PG_BIN}\n"
                       f"listen-address = 127.0.0.1:0\n"
                       f"worker-id = {worker_id or name}\n"
                       + "".join(f"{option}\n" for option in options))
        os.chmod(self.config, 0o600)
        shutil.chown(self.config, SERVER_USER)
        with open(self.log, "w") as output:
            self.process = subprocess.Popen(
                [os.path.join(work, "expense-ops-worker"), "--jobs", "backup", "--config", self.config],
                stdout=output, stderr=subprocess.STDOUT, cwd=work,
                env={"PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8"},
                **fixtures.as_server_user())

    def output(self):
        return read(self.log)

    def count(self, event):
        return self.output().count(f'"event":"{event}"')

    def stop(self):
        fixtures.terminate(self.process, 30)

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.stop()


def server_owned(path):
    os.makedirs(path, exist_ok=True)
    shutil.chown(path, SERVER_USER, SERVER_USER)
    return path


def newest(cluster, table="ops.backups", key="backup_id"):
    rows = cluster.sql(f"SELECT row_to_json(t) FROM {table} t ORDER BY {key} DESC LIMIT 1")
    return rows[0][0] if rows else None


def count_rows(cluster, table, condition="true"):
    return cluster.value(f"SELECT count(*) FROM {table} WHERE {condition}")


def metric(cluster, name):
    return {json.dumps(labels, sort_keys=True): value
            for labels, value in cluster.sql("SELECT labels, value FROM ops.metric_samples(%s, NULL, NULL)", (name,))}


def request(cluster, kind="backup", reason="test"):
    if kind == "backup":
        return cluster.value("SELECT (ops.request_backup(%s)).request_id", (reason,))
    return cluster.value("SELECT (ops.request_restore_test(%s, %s)).request_id", (reason, kind == "pitr_drill"))


def wait_for_backup(cluster, request_id, seconds=120):
    """The backup that answers the request, once it has verified or failed."""
    wait_until(seconds, lambda: cluster.value(
        "SELECT count(*) FROM ops.backups WHERE request_id = %s AND status IN ('verified', 'failed')",
        (request_id,)) == 1)
    rows = cluster.sql("SELECT row_to_json(b) FROM ops.backups b WHERE request_id = %s", (request_id,))
    return rows[0][0] if rows else None


def wait_for_test(cluster, request_id, seconds=180):
    wait_until(seconds, lambda: cluster.value(
        "SELECT count(*) FROM ops.restore_tests WHERE request_id = %s AND status <> 'running'",
        (request_id,)) == 1)
    rows = cluster.sql("SELECT row_to_json(t) FROM ops.restore_tests t WHERE request_id = %s", (request_id,))
    return rows[0][0] if rows else None


def check_names(test):
    return {c["check"]: c["passed"] for c in (test or {}).get("checks", [])}


def flip_a_byte(directory, larger_than, offset):
    """Inverts the byte at OFFSET of the first file under DIRECTORY larger than LARGER_THAN bytes:
    the rot a verification must find."""
    for root, _, files in os.walk(directory):
        for name in sorted(files):
            victim = os.path.join(root, name)
            if os.path.getsize(victim) > larger_than:
                with open(victim, "r+b") as file:
                    file.seek(offset)
                    byte = file.read(1)
                    file.seek(offset)
                    file.write(bytes([byte[0] ^ 0xFF]))
                return
    raise RuntimeError(f"no file over {larger_than} bytes under {directory}")


def fill(cluster, megabytes):
    """Rows enough that a backup takes a moment (to be killed in)."""
    cluster.sql("CREATE TABLE IF NOT EXISTS public.ballast (id bigint, pad text)")
    cluster.sql("INSERT INTO public.ballast SELECT g, repeat(md5(g::text), 30)"
                " FROM generate_series(1, %s) g", (megabytes * 1000,))


# --- requests from two sessions at once ----------------------------------------------------

def two_requests_at_once(cluster):
    """Two staff sessions asking for a backup at the same moment: the partial unique index makes
    the second wait for the first, then join its request, never add a second one. If the first
    rolls back, the second's own request stands. No worker runs yet, so nothing takes them."""
    cluster.sql("CREATE ROLE it_backup_staff LOGIN IN ROLE expense_ops_admin")
    def staff_session():
        connection = psycopg2.connect(host=cluster.base, port=cluster.port, dbname=DATABASE, user="it_backup_staff")
        connection.autocommit = False
        return connection
    def ask(connection, kind, reason, answers):
        with connection.cursor() as cursor:
            if kind == "backup":
                cursor.execute("SELECT (ops.request_backup(%s)).request_id", (reason,))
            else:
                cursor.execute("SELECT (ops.request_restore_test(%s)).request_id", (reason,))
            answers.append(cursor.fetchone()[0])
    def waits_on_a_lock(connection):
        return cluster.value("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                             (connection.get_backend_pid(),)) is True
    for kind, first_ends in (("backup", "commit"), ("restore_test", "rollback")):
        first, second = staff_session(), staff_session()
        try:
            first_answer, second_answer = [], []
            ask(first, kind, "first", first_answer)
            asking = threading.Thread(target=ask, args=(second, kind, "second", second_answer))
            asking.start()
            blocked = wait_until(10, lambda: waits_on_a_lock(second))
            answered_early = bool(second_answer)
            getattr(first, first_ends)()
            asking.join(10)
            second.commit()
            waiting = cluster.sql("SELECT request_id, reason FROM ops.backup_requests"
                                  " WHERE kind = %s AND taken_at IS NULL", (kind,))
            if first_ends == "commit":
                check("two sessions ask for a backup at once: the second waits for the first and joins its request",
                      blocked and not answered_early and second_answer == first_answer
                      and waiting == [(first_answer[0], "first")], (blocked, first_answer, second_answer, waiting))
            else:
                check("when the first session rolls back, the waiting second one's own request stands",
                      blocked and not answered_early and second_answer and second_answer != first_answer
                      and waiting == [(second_answer[0], "second")], (blocked, first_answer, second_answer, waiting))
        finally:
            first.close()
            second.close()
    cluster.sql("DELETE FROM ops.backup_requests")


# --- basebackup ----------------------------------------------------------------------------

def requests_and_schedule(cluster, work, backups, scratch):
    """A backup asked for again each time the worker takes one must not hold off the restore test
    the schedule has due: requests come first, but not twice running."""
    options = [f"backup-directory = {backups}", f"scratch-directory = {scratch}", "backup-time = 03:00",
               "restore-test-days = 0.0001"]  # a restore test is due every 9 s
    since = cluster.value("SELECT now()")
    asker = cluster.connect()
    stop = threading.Event()
    def keep_asking():
        with asker.cursor() as cursor:
            while not stop.is_set():
                cursor.execute("SELECT count(*) FROM ops.backup_requests WHERE kind = 'backup' AND taken_at IS NULL")
                if cursor.fetchone()[0] == 0:
                    cursor.execute("SELECT ops.request_backup('asked again')")
                time.sleep(0.05)
    asking = threading.Thread(target=keep_asking)
    asking.start()
    try:
        with BackupWorker(work, "requests", cluster, *options):
            scheduled = wait_until(60, lambda: cluster.value(
                "SELECT count(*) FROM ops.restore_tests WHERE started_at > %s AND reason = 'scheduled'"
                " AND status <> 'running'", (since,)) >= 1)
            stop.set()
            asking.join(10)
            served = cluster.value("SELECT count(*) FROM ops.backups WHERE started_at > %s"
                                   " AND reason = 'asked again'", (since,))
    finally:
        stop.set()
        asking.join(10)
        asker.close()
    check(f"backups asked for without pause ({served} taken) do not hold off the restore test the schedule has due",
          scheduled and served >= 1, served)
    cluster.sql("DELETE FROM ops.backup_requests WHERE taken_at IS NULL")


def staff_view(cluster):
    """api.backups, api.restore_tests and api.health_db() through the PostgREST-shaped client,
    as staff and as a tenant."""
    cluster.sql("DROP ROLE IF EXISTS it_backup_authenticator")
    cluster.sql("CREATE ROLE it_backup_authenticator LOGIN NOINHERIT IN ROLE expense_anon, expense_user")
    admin_dsn = f"host={cluster.base} port={cluster.port} dbname={DATABASE} user=postgres"
    authenticator_dsn = f"host={cluster.base} port={cluster.port} dbname={DATABASE} user=it_backup_authenticator"
    _, api, tokens = fixtures.start_with_staff(admin_dsn, authenticator_dsn)
    def get(path, view, token=None):
        response = api.request("GET", path, f"SELECT row_to_json(v) FROM {view} v", token=token)
        if isinstance(response.body, list):
            response.body = sorted((row[0] for row in response.body), key=lambda row: -row.get("backup_id", 0))
        return response

    staff = get("/backups?order=backup_id.desc", "api.backups", token=tokens["sue"])
    check("staff read api.backups through the API, without paths", staff.status == 200 and staff.body
          and staff.body[0]["status"] == "verified" and "location" not in staff.body[0], staff)
    tests = get("/restore_tests", "api.restore_tests", token=tokens["sue"])
    check("staff read api.restore_tests with each check and the RTO",
          tests.status == 200 and tests.body and tests.body[0]["rto_seconds"] is not None, tests)
    health = api.rpc("health_db", token=tokens["sue"])
    backups = (health.body or {}).get("backups") or {}
    check("api.health_db() gives staff the RPO and the RTO",
          health.status == 200 and backups.get("rpo_seconds") is not None and backups.get("rpo_seconds") < 600
          and backups.get("rto_seconds") is not None, health)
    for name in ("ada", "ana"):
        tenant = get("/backups", "api.backups", token=tokens[name])
        tenant_tests = get("/restore_tests", "api.restore_tests", token=tokens[name])
        tenant_health = api.rpc("health_db", token=tokens[name])
        check(f"a tenant ({name}) sees no backup, no restore test and no RPO",
              tenant.status == 200 and tenant.body == [] and tenant_tests.body == []
              and "backups" not in (tenant_health.body or {}), (tenant, tenant_health))
        refused = api.rpc("request_backup", token=tokens[name], reason="mine")
        check(f"a tenant ({name}) may not request a backup (403)", refused.status == 403, refused)
    anonymous = get("/backups", "api.backups")
    check("the anonymous caller may not read api.backups", anonymous.status in (401, 403), anonymous)
    asked = api.request("POST", "/rpc/request_backup",
                        "SELECT row_to_json(r) FROM api.request_backup(reason => %s) r", ("before the release",),
                        token=tokens["sue"])
    if asked.status == 200:
        asked.body = asked.body[0][0]
    check("staff request a backup through the API", asked.status == 200 and asked.body["kind"] == "backup", asked)
    return asked.body["request_id"] if asked.status == 200 else None


def basebackup(cluster, work):
    backups = server_owned(os.path.join(work, "backups"))
    scratch = server_owned(os.path.join(work, "scratch"))
    options = [f"backup-directory = {backups}", f"scratch-directory = {scratch}", "backup-time = 03:00"]
    started = time.monotonic()
    with BackupWorker(work, "basebackup", cluster, *options) as worker:
        wait_until(180, lambda: count_rows(cluster, "ops.restore_tests", "status <> 'running'") >= 1)
        first = cluster.sql("SELECT row_to_json(b) FROM ops.backups b ORDER BY backup_id LIMIT 1")[0][0]
        check("a first backup at once, as none exists, verified", first["status"] == "verified"
              and first["reason"] == "scheduled" and first["bytes"] > 0 and first["wal_stop_lsn"]
              and first["verify_seconds"] is not None, first)
        check("it is a directory holding the data and the configuration copy",
              os.path.isdir(os.path.join(backups, first["label"], "data"))
              and os.path.isfile(os.path.join(backups, first["label"], "data", "backup_manifest")), first)
        test = newest(cluster, "ops.restore_tests", "restore_test_id")
        names = check_names(test)
        diag(f"first backup {first['backup_seconds']:.1f} s, restore test RTO {test and test['rto_seconds']} s, "
             f"{time.monotonic() - started:.1f} s from start")
        check("a restore test followed and passed every check",
              test and test["status"] == "passed" and all(names.values()) and set(names) >= {
                  "verify", "restore", "consistency", "amcheck", "extension_version", "health_db", "marker",
                  "row_counts"}, test)
        check("its RTO is measured, and the bare restore within it",
              test and 0 < test["restore_seconds"] <= test["rto_seconds"], test)
        configuration = cluster.value("SELECT m.configuration FROM ops.backup_markers m JOIN ops.backups b"
                                      " USING (marker_id) WHERE b.backup_id = %s", (first["backup_id"],))
        copied = configuration.get(worker.config, "")
        check("the worker's configuration travels in the marker, its secrets removed",
              "replication-dsn" in copied and "T0PSECRET" not in copied and "<redacted>" in copied, configuration)
        check("the restored server was removed with its scratch directory", os.listdir(scratch) == [],
              os.listdir(scratch))
        status = cluster.sql("SELECT row_to_json(s) FROM ops.backup_status() s")[0][0]
        check("ops.backup_status(): the RPO is minutes, the last restore test passed",
              status["rpo_seconds"] < 600 and status["last_restore_test_status"] == "passed", status)

        request_id = staff_view(cluster)
        asked = time.monotonic()
        answered = wait_for_backup(cluster, request_id)
        check("the requested backup is taken at once and verified (NOTIFY wakes the worker)",
              answered and answered["status"] == "verified" and time.monotonic() - asked < 60, answered)

        gate = cluster.sql("CALL ops.backup_gate('1 hour', '0 seconds')")
        check("ops.backup_gate() passes with a verified backup newer than max_age", gate[0][0] is True, gate)
        time.sleep(1.5)  # the newest backup is older than the gate's max_age of a second
        gate_connection = cluster.connect()
        with gate_connection.cursor() as cursor:
            cursor.execute("CALL ops.backup_gate('1 second', '120 seconds')")
            passed, backup_id = cursor.fetchone()
        gate_connection.close()
        gated = cluster.sql("SELECT row_to_json(b) FROM ops.backups b WHERE backup_id = %s", (backup_id,))
        check("without one, ops.backup_gate() requests a backup and waits until it is verified",
              passed is True and gated and gated[0][0]["status"] == "verified"
              and gated[0][0]["reason"].startswith("backup gate"), gated)

        # A byte flipped in the newest backup: the restore test's verification finds it.
        label = newest(cluster)["label"]
        flip_a_byte(os.path.join(backups, label, "data", "base"), larger_than=8192, offset=4000)
        flipped = wait_for_test(cluster, request(cluster, "restore_test", "after a flipped byte"))
        rotten = newest(cluster)
        check("a byte flipped in a backup: verification fails, the backup is failed",
              rotten["status"] == "failed" and rotten["failed_step"] == "verification"
              and "pg_verifybackup" in rotten["error"], rotten)
        check("and the restore test that found it failed at its verification",
              flipped and flipped["status"] == "failed" and check_names(flipped).get("verify") is False, flipped)
        check("the BackupVerificationFailed metric says so",
              metric(cluster, "backup_verification_failed").get('{"backend": "basebackup"}') == 1,
              metric(cluster, "backup_verification_failed"))
        cluster.sql("SELECT ops.evaluate_alerts(now())")
        evaluated = cluster.sql("SELECT rule, state FROM ops.alert_status(now())"
                                " WHERE rule IN ('BackupVerificationFailed', 'RestoreTestFailed')")
        check("BackupVerificationFailed and RestoreTestFailed fire",
              {rule for rule, state in evaluated if state == "firing"} == {"BackupVerificationFailed",
                                                                            "RestoreTestFailed"}, evaluated)
        shutil.rmtree(os.path.join(backups, label), ignore_errors=True)
        # The worker's log never held the secret either.
        check("no secret in the worker's log", "T0PSECRET" not in worker.output(), tail(worker.output(), 20))
    return backups, scratch


def faults(cluster, work, backups, scratch):
    options = [f"backup-directory = {backups}", f"scratch-directory = {scratch}", "backup-time = 03:00",
               "backup-retry-delay = 3600"]
    # A marker missing: the restore does not hold the token the backup's marker names.
    with BackupWorker(work, "faults", cluster, *options) as worker:
        good = wait_for_backup(cluster, request(cluster, "backup", "before the marker test"))
        cluster.sql("UPDATE ops.backup_markers SET token = gen_random_uuid()::text"
                    " WHERE marker_id = (SELECT marker_id FROM ops.backups WHERE backup_id = %s)", (good["backup_id"],))
        missing = wait_for_test(cluster, request(cluster, "restore_test", "marker"))
        check("a marker missing from the restore fails the restore test at that check",
              missing and missing["status"] == "failed" and check_names(missing).get("marker") is False
              and check_names(missing).get("consistency") is True, missing)
        check("RestoreTestFailed's metric is 1", metric(cluster, "restore_test_failed").get('{"kind": "restore"}') == 1)

        # A restore that does not start: the live server's own auto.conf names a library the
        # restored server cannot load (the live server, not restarted, is unaffected).
        cluster.set(shared_preload_libraries="no_such_library")
        unstartable = wait_for_backup(cluster, request(cluster, "backup", "with a bad auto.conf"))
        refused = wait_for_test(cluster, request(cluster, "restore_test", "does it start"))
        check("a restore that does not start fails with the server's own words",
              unstartable["status"] == "verified" and refused and refused["status"] == "failed"
              and check_names(refused).get("start") is False and "no_such_library" in refused["error"], refused)
        cluster.sql("ALTER SYSTEM RESET shared_preload_libraries")
        check("and its scratch directory is gone", os.listdir(scratch) == [], os.listdir(scratch))
        drill = wait_for_test(cluster, request(cluster, "pitr_drill", "asked of basebackup"))
        check("a point-in-time drill asked of the basebackup backend fails, saying it needs pgbackrest",
              drill and drill["status"] == "failed" and "pgbackrest" in (drill["error"] or ""), drill)

        # A killed pg_basebackup: the backup fails, its partial files go, the next one is good.
        fill(cluster, 150)
        asked = request(cluster, "backup", "to be killed")
        killed = wait_until(60, lambda: subprocess.run(["pkill", "-KILL", "-f", f"pg_basebackup --pgdata={backups}"]).returncode == 0)
        result = wait_for_backup(cluster, asked)
        check("a killed pg_basebackup: the backup is failed, naming the signal",
              killed and result and result["status"] == "failed" and result["failed_step"] == "backup"
              and "signal 9" in result["error"], result)
        check("its partial files are removed", not [n for n in os.listdir(backups) if n.endswith(".partial")],
              os.listdir(backups))
        check("the BackupFailed metric is 1", metric(cluster, "backup_failed").get('{"backend": "basebackup"}') == 1)
        after = wait_for_backup(cluster, request(cluster, "backup", "after the killed one"))
        check("the next backup succeeds", after and after["status"] == "verified", after)
        check("and the BackupFailed metric is 0 again",
              metric(cluster, "backup_failed").get('{"backend": "basebackup"}') == 0)

    # The worker killed mid-backup: its next start fails the backup and removes the partial files.
    with BackupWorker(work, "killed", cluster, *options) as worker:
        asked = request(cluster, "backup", "the worker dies")
        wait_until(60, lambda: subprocess.run(["pgrep", "-f", f"pg_basebackup --pgdata={backups}"],
                                              stdout=subprocess.DEVNULL).returncode == 0)
        worker.process.kill()
        worker.process.wait()
        subprocess.run(["pkill", "-KILL", "-f", f"pg_basebackup --pgdata={backups}"])
    check("a worker killed mid-backup leaves it running and a partial directory",
          cluster.value("SELECT status FROM ops.backups WHERE request_id = %s", (asked,)) == "running")
    with BackupWorker(work, "restarted", cluster, *options, worker_id="killed") as worker:
        wait_until(30, lambda: worker.count("backups_interrupted") == 1)
        interrupted = cluster.sql("SELECT row_to_json(b) FROM ops.backups b WHERE request_id = %s", (asked,))[0][0]
        check("its next start records it failed as interrupted, and removes the partial files",
              interrupted["status"] == "failed" and "interrupted" in interrupted["error"]
              and not [n for n in os.listdir(backups) if n.endswith(".partial")], (interrupted, os.listdir(backups)))
    cluster.sql("DROP TABLE public.ballast")

    # Retention: with backups kept for 10 s, the old ones go through the backend, the newest
    # verified one stays, and nothing of another directory is touched.
    time.sleep(10)
    kept_before = cluster.sql("SELECT backup_id, label FROM ops.backups WHERE status IN ('completed', 'verified')"
                              " ORDER BY backup_id")
    with BackupWorker(work, "retention", cluster, *options, "backup-retention-days = 0.000116"):
        newest_kept = wait_for_backup(cluster, request(cluster, "backup", "the newest"))
        wait_until(30, lambda: count_rows(cluster, "ops.backups", "status = 'expired'") >= len(kept_before))
        rows = {backup_id: (status, label) for backup_id, status, label in
                cluster.sql("SELECT backup_id, status, label FROM ops.backups")}
        expired = [backup_id for backup_id, _ in kept_before if rows[backup_id][0] == "expired"]
        check("retention expires the backups past it through the backend: their directories are gone",
              kept_before and len(expired) == len(kept_before)
              and not any(os.path.exists(os.path.join(backups, label)) for _, label in kept_before),
              (kept_before, rows))
        check("and keeps the newest verified backup", rows[newest_kept["backup_id"]][0] == "verified"
              and os.path.isdir(os.path.join(backups, newest_kept["label"])), rows)

    # An unwritable backup directory: the backup fails with the reason.
    locked = os.path.join(work, "locked")
    os.makedirs(locked, exist_ok=True)
    os.chmod(locked, 0o755)  # root's: the server user may not write
    with BackupWorker(work, "unwritable", cluster, f"backup-directory = {locked}/backups",
                      f"scratch-directory = {scratch}", "backup-time = 03:00"):
        failed = wait_for_backup(cluster, request(cluster, "backup", "unwritable"))
        check("an unwritable backup directory: the backup fails, saying so",
              failed and failed["status"] == "failed" and "Permission denied" in failed["error"], failed)
        shown = cluster.value("SELECT error FROM api.backups WHERE backup_id = %s", (failed["backup_id"],))
        check("api.backups shows the error without the path", shown and locked not in shown and "<path>" in shown,
              shown)

    # A full disk: a 16 MB tmpfs cannot hold the cluster.
    small = os.path.join(work, "small")
    os.makedirs(small, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", small],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not check("a 16 MB tmpfs for the full-disk fault (needs root, as CI runs)", mounted.returncode == 0,
                 mounted.stdout):
        return
    try:
        server_owned(small)
        with BackupWorker(work, "full", cluster, f"backup-directory = {small}", f"scratch-directory = {scratch}",
                          "backup-time = 03:00"):
            full = wait_for_backup(cluster, request(cluster, "backup", "full disk"))
            check("a full disk: the backup fails with No space left on device",
                  full and full["status"] == "failed" and "No space left on device" in full["error"], full)
            check("and leaves nothing behind on the full disk", os.listdir(small) == [], os.listdir(small))
    finally:
        subprocess.run(["umount", small])


# --- pgbackrest ----------------------------------------------------------------------------

def pgbackrest(cluster, work):
    repository = server_owned(os.path.join(work, "repo"))
    scratch = server_owned(os.path.join(work, "scratch-pgbackrest"))
    configuration = os.path.join(work, "pgbackrest-repository.conf")  # not a worker's name.conf
    with open(configuration, "w") as file:
        file.write("[global]\n"
                   f"repo1-path={repository}\n"
                   f"lock-path={work}/pgbackrest-lock\n"
                   f"log-path={work}/pgbackrest-log\n"
                   "repo1-retention-full=30\n"
                   "repo1-retention-full-type=time\n"
                   "start-fast=y\n"
                   "[main]\n"
                   f"pg1-path={cluster.base}/data\n"
                   f"pg1-port={cluster.port}\n"
                   f"pg1-socket-path={cluster.base}\n")
    shutil.chown(configuration, SERVER_USER)
    for directory in ("pgbackrest-lock", "pgbackrest-log"):
        server_owned(os.path.join(work, directory))
    pgbackrest_command = f"pgbackrest --config={configuration} --stanza=main"
    cluster.set(archive_mode="on", archive_command=f"{pgbackrest_command} archive-push %p")
    cluster.restart()
    created = subprocess.run(["pgbackrest", f"--config={configuration}", "--stanza=main", "stanza-create"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             **fixtures.as_server_user())
    if not check("pgbackrest stanza-create on a local posix repository", created.returncode == 0, created.stdout):
        return
    options = ["backup-backend = pgbackrest", f"pgbackrest-config = {configuration}",
               f"scratch-directory = {scratch}", "backup-time = 03:00"]
    with BackupWorker(work, "pgbackrest-worker", cluster, *options) as worker:
        wait_until(240, lambda: count_rows(cluster, "ops.restore_tests",
                                           "status <> 'running' AND backup_id IN (SELECT backup_id FROM ops.backups"
                                           " WHERE backend = 'pgbackrest')") >= 1)
        first = cluster.sql("SELECT row_to_json(b) FROM ops.backups b WHERE backend = 'pgbackrest'"
                            " ORDER BY backup_id LIMIT 1")
        first = first[0][0] if first else {}
        check("pgbackrest: a full backup at once, verified, with its label, LSNs and end",
              first.get("status") == "verified" and first.get("kind") == "full" and first.get("label", "").endswith("F")
              and first.get("wal_stop_lsn") and first.get("restorable_at"), first)
        test = newest(cluster, "ops.restore_tests", "restore_test_id")
        check("pgbackrest: the restore test passed every check",
              test and test["status"] == "passed" and all(check_names(test).values()), test)
        second = wait_for_backup(cluster, request(cluster, "backup", "a differential one"))
        check("pgbackrest: the next backup within the week is differential, verified",
              second and second["kind"] == "diff" and second["status"] == "verified", second)
        cluster.sql("SELECT pg_switch_wal()")
        wait_until(30, lambda: cluster.value("SELECT restorable_from FROM ops.backup_status()") == "archived_wal")
        status = cluster.sql("SELECT row_to_json(s) FROM ops.backup_status() s")[0][0]
        check("with WAL archived after the backup, the RPO counts from the last archived WAL",
              status["restorable_from"] == "archived_wal" and status["wal_archiving"] == "ok", status)

        drill = wait_for_test(cluster, request(cluster, "pitr_drill", "monthly drill"), seconds=240)
        names = check_names(drill)
        check("pgbackrest: a point-in-time drill restores between two markers: the earlier there, the later absent",
              drill and drill["status"] == "passed" and drill["target_time"] and names.get("marker") is True
              and names.get("marker_after_target") is True, drill)

        # Archiving that fails: pg_stat_archiver's failures rise, and the metric says so.
        cluster.set(archive_command="/bin/false")
        cluster.sql("SELECT pg_reload_conf()")
        time.sleep(1)
        cluster.sql("CREATE TABLE IF NOT EXISTS public.wal_filler AS SELECT 1 AS one")
        cluster.sql("SELECT pg_switch_wal()")
        failing = wait_until(60, lambda: metric(cluster, "wal_archive_failing").get("{}") == 1)
        check("WAL archiving failing: wal_archive_failing is 1", failing, metric(cluster, "wal_archive_failing"))
        cluster.set(archive_command=f"{pgbackrest_command} archive-push %p")
        cluster.sql("SELECT pg_reload_conf()")
        recovered = wait_until(90, lambda: metric(cluster, "wal_archive_failing").get("{}") == 0)
        check("and 0 once it archives again", recovered, cluster.sql("SELECT * FROM pg_stat_archiver"))

        # A byte flipped in the repository: the next restore test's verification finds it.
        label = newest(cluster)["label"]
        full_label = first.get("label")
        flip_a_byte(os.path.join(repository, "backup", "main", full_label, "pg_data", "base"),
                    larger_than=1024, offset=100)
        flipped = wait_for_test(cluster, request(cluster, "restore_test", "after a flipped byte"), seconds=240)
        rotten = cluster.sql("SELECT row_to_json(b) FROM ops.backups b WHERE label = %s", (label,))[0][0]
        check("pgbackrest: a byte flipped in the full backup fails the verification of the differential on it",
              rotten["status"] == "failed" and rotten["failed_step"] == "verification"
              and full_label in (rotten["error"] or "") and flipped and flipped["status"] == "failed", (rotten, flipped))
    cluster.set(archive_mode="off")
    cluster.sql("ALTER SYSTEM RESET archive_command")
    cluster.restart()


def main():
    parts = sys.argv[1:] or ["basebackup", "faults", "pgbackrest"]
    with fixtures.workdir("expense_ops_backup_") as work:
        os.chmod(work, 0o755)
        binary = os.path.join(work, "expense-ops-worker")
        shutil.copy(fixtures.WORKER, binary)  # where the server user may run it, whatever the clone's modes
        cluster = Cluster(server_owned(os.path.join(work, "cluster")), fixtures.free_port(55900))
        try:
            backups, scratch = None, None
            two_requests_at_once(cluster)
            if "basebackup" in parts or "faults" in parts:
                backups, scratch = basebackup(cluster, work)
            if "basebackup" in parts:
                requests_and_schedule(cluster, work, backups, scratch)
            if "faults" in parts:
                faults(cluster, work, backups, scratch)
            if "pgbackrest" in parts:
                pgbackrest(cluster, work)
            crashes = cluster.crashes()
            check("no backend crashed in the backup test's cluster", not crashes, crashes)
        finally:
            cluster.close()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
