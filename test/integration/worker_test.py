#!/usr/bin/python3
"""The worker against a live cluster: its heartbeat drives api.health(), each job runs on its own
thread and connection (a job stuck on a lock holds up no other), it stops cleanly on SIGTERM and
SIGINT, bad configuration exits 2 without echoing secrets, and it survives an
unreachable database and a PostgreSQL restart.

It stops and restarts the test cluster (CLUSTER_BASE), so no other file may run meanwhile.
Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import os
import re
import signal
import sys
import time

import fixtures
from fixtures import PGHOST, PGPORT, Worker, run_worker, tail, value, wait_until
from tap import check, diag, finish

DATABASE = "expense_ops_it"


def health_is(status):
    return value(DATABASE, "SELECT api.health()->>'status'") == status


def heartbeat(log, *arguments):
    """The worker as it-worker, heartbeat every second, writing to LOG."""
    return Worker(log, "--heartbeat-interval", "1", *arguments, worker_id="it-worker",
                  dsn=fixtures.dsn(DATABASE, user="it_worker"))


def heartbeat_drives_health(work):
    diag("worker heartbeat drives api.health()")
    check("health is degraded before any worker ran", health_is("degraded"))
    with heartbeat(os.path.join(work, "worker.log")) as worker:
        check("health turns ok once the worker's heartbeats arrive", wait_until(10, lambda: health_is("ok")))
        check("the worker logs structured JSON lines",
              re.search(r'^\{"ts":"[^"]*","level":"info","event":"connected"', worker.output(), re.MULTILINE),
              tail(worker.output(), 3))
        worker.signal(signal.SIGKILL)
        worker.wait()
        killed_at = time.monotonic()
        check("health turns degraded within three intervals (plus a second) of killing the worker",
              wait_until(4, lambda: health_is("degraded")))
        # api.health() degrades after three intervals of silence, and the last heartbeat landed
        # up to one interval before the kill; a heartbeat written a little late, and the 0.2 s
        # polling, are the quarter second of slack.
        elapsed = time.monotonic() - killed_at
        check("and not before two intervals passed", elapsed >= 2 - 0.25, f"degraded after {elapsed:.2f} s")


def clean_shutdown(work):
    diag("clean shutdown")
    with heartbeat(os.path.join(work, "term.log")) as worker:
        # Its own connection, not only health: an earlier worker's beats may still keep it ok.
        wait_until(10, lambda: '"event":"connected"' in worker.output() and health_is("ok"))
        worker.signal(signal.SIGTERM)
        term_started = time.monotonic()
        status = worker.wait()
        elapsed = time.monotonic() - term_started
        check("SIGTERM stops the worker with exit code 0", status == 0, f"exit code {status}")
        check("promptly, within 2 seconds", elapsed <= 2, f"{elapsed:.2f} s")
        check("and it logs that it stopped", '"event":"stopped","signal":15' in worker.output(),
              tail(worker.output(), 3))
    with heartbeat(os.path.join(work, "int.log")) as worker:
        wait_until(10, lambda: '"event":"connected"' in worker.output())
        worker.signal(signal.SIGINT)
        status = worker.wait()
        check("SIGINT stops it too", status == 0, f"exit code {status}")


def bad_configuration(work):
    diag("bad configuration")
    status, output = run_worker("--heartbeat-interval", "1")
    check("no DSN exits with code 2", status == 2, f"exit code {status}")
    check("and names the option", "--dsn" in output, output)
    status, output = run_worker("--dsn", "dbname=x", "--heartbeat-interval", "fast")
    check("a malformed interval exits with code 2", status == 2, f"exit code {status}")
    check("and names the option", "heartbeat-interval" in output, output)
    config = os.path.join(work, "bad.conf")
    with open(config, "w") as file:
        file.write("dsn = dbname=x\nbogus = 1\n")
    status, output = run_worker("--config", config)
    check("an unknown option in the config file exits with code 2", status == 2, f"exit code {status}")
    check("and names it", "bogus" in output, output)
    status, output = run_worker("--dsn", "dbname=x", env={"EXPENSE_OPS_RECONNECT_MAX_DELAY": "-1"})
    check("a bad value from the environment exits with code 2", status == 2, f"exit code {status}")
    check("and names the option", "--reconnect-max-delay" in output, output)


def secrets_stay_out(work):
    diag("secrets stay out of the worker's output")
    status, output = run_worker(env={"EXPENSE_OPS_DSN": "postgresql://u:S3CRET-uri@[::1/db"})
    check("a malformed DSN exits with code 2", status == 2, f"exit code {status}")
    check("and its message leaves the password out", "S3CRET" not in output and output != "", output)
    status, output = run_worker(env={"EXPENSE_OPS_DSN": f"host={PGHOST} port={PGPORT} dbname={DATABASE}"
                                                        " password='S3CRET kw' sslmode=bogus"})
    check("a DSN with a bad option value exits with code 2", status == 2, f"exit code {status}")
    check("without the password in the output", "S3CRET" not in output, output)
    config = os.path.join(work, "noequals.conf")
    with open(config, "w") as file:
        file.write("heartbeat-interval = 1\nhost=db password=S3CRET-line\n")
    status, output = run_worker("--config", config)
    check("a config line without '=' exits with code 2", status == 2, f"exit code {status}")
    check("naming its line number, not echoing it", "line 2" in output and "S3CRET" not in output, output)
    # A well-formed DSN of a server that is not there: the worker retries, and no retry line
    # carries the password.
    port = fixtures.free_port(56900)
    with Worker(os.path.join(work, "retry.log"), "--reconnect-initial-delay", "0.1", "--reconnect-max-delay", "0.2",
                dsn=f"postgresql://it_worker:S3CRET-retry@127.0.0.1:{port}/{DATABASE}?sslmode=disable") as worker:
        wait_until(10, lambda: worker.count("connect_failed") >= 3)
        worker.stop()
        log = worker.output()
    check("connection retries are logged", '"event":"connect_failed"' in log, tail(log, 3))
    check("without the password", "S3CRET" not in log, tail(log, 3))


def outage_and_restart(work, cluster_base):
    diag("the database goes away and comes back")
    with heartbeat(os.path.join(work, "outage.log"), "--reconnect-initial-delay", "0.2",
                   "--reconnect-max-delay", "0.8") as worker:
        wait_until(10, lambda: '"event":"connected"' in worker.output() and health_is("ok"))
        fixtures.cluster_stop(cluster_base)
        check("the worker notices the lost connection", wait_until(10, lambda: worker.count("connection_lost") >= 1))
        time.sleep(3)
        check("it keeps running while the database is down", worker.running())
        retries = worker.count("connect_failed")
        check(f"it logs one line per retry ({retries} so far)", retries >= 3)
        delays = re.findall(r'"retry_in_seconds":([0-9.]*)', worker.output())
        check(f"the delays double and stop at the cap ({' '.join(delays)})",
              delays[:4] == ["0.2", "0.4", "0.8", "0.8"])
        fixtures.cluster_start(cluster_base)
        check("it reconnects once the database is back", wait_until(15, lambda: worker.count("connected") >= 2))
        check("and health is ok again", wait_until(10, lambda: health_is("ok")))

        diag("a PostgreSQL restart under the worker")
        before = value(DATABASE, "SELECT last_seen FROM ops.worker_heartbeats WHERE worker_id = 'it-worker'")
        fixtures.cluster_restart(cluster_base)
        check("the worker survives a restart", wait_until(15, lambda: worker.count("connected") >= 3))
        check("the same worker process is still running", worker.running())
        check("its heartbeats continue after the restart",
              wait_until(10, lambda: value(DATABASE, "SELECT last_seen > %s FROM ops.worker_heartbeats"
                                                     " WHERE worker_id = 'it-worker'", (before,))))


def jobs_run_apart(work):
    diag("each job on a thread and a connection of its own")
    blocker = fixtures.connect(DATABASE, autocommit=False)
    with blocker.cursor() as cursor:
        # What ops.rollup_requests() takes first: its runs wait here until the test lets go.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('ops.rollup_requests'))")
    with heartbeat(os.path.join(work, "jobs.log"), "--log-level", "debug", "--rollup-requests-interval", "0.5",
                   "--evaluate-alerts-interval", "0.5", "--sample-statements-interval", "0.5") as worker:
        wait_until(10, lambda: health_is("ok"))
        first = value(DATABASE, "SELECT last_seen FROM ops.worker_heartbeats WHERE worker_id = 'it-worker'")
        time.sleep(3)
        check("while a rollup waits on a lock, the heartbeat goes on",
              value(DATABASE, "SELECT last_seen > %s FROM ops.worker_heartbeats WHERE worker_id = 'it-worker'",
                    (first,)) and health_is("ok"))
        check("and so do the other jobs", wait_until(10, lambda: worker.count("evaluate_alerts") >= 2
                                                     and worker.count("sample_statements") >= 2),
              tail(worker.output(), 5))
        sessions = value(DATABASE, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'it_worker'")
        check(f"one session a job ({sessions})", sessions == 10, str(sessions))
        blocker.rollback()
        check("the rollup finishes once the lock is let go",
              wait_until(10, lambda: worker.count("rollup_requests") >= 1), tail(worker.output(), 5))
        check("and says how many runs it skipped meanwhile, rather than running them back to back",
              wait_until(5, lambda: re.search(r'"event":"job_overran","job":"rollup-requests",[^}]*"runs_skipped":[1-9]',
                                              worker.output()) is not None), tail(worker.output(), 5))
        check("the alert rules were evaluated (the Watchdog fires)",
              value(DATABASE, "SELECT count(*) FROM ops.alerts a WHERE a.rule = 'Watchdog'"
                              " AND a.state = 'firing'") == 1)
        check("the partitions ahead were made",
              value(DATABASE, "SELECT to_regclass('ops.request_log_' || to_char(now() AT TIME ZONE 'UTC' + interval '1 day', 'YYYYMMDD')) IS NOT NULL"))
        worker.stop()
        log = worker.output()
    connected = re.findall(r'"level":"(\w+)","event":"connected","job":"([a-z-]+)"', log)
    check("only the heartbeat's connection is news at info; the others say it at debug",
          sorted(connected) == [("debug", job) for job in
                                ("checks", "deliver-notifications", "evaluate-alerts", "host-samples", "maintain-partitions", "rollup-requests",
                                 "sample-statements", "ship-logs", "sla-refresh")] + [("info", "heartbeat")], repr(connected))
    blocker.close()


def host_samples_end_to_end(work):
    diag("host samples, and the CPU and memory alerts that read them")
    with heartbeat(os.path.join(work, "host.log"), "--host-samples-interval", "0.5",
                   "--evaluate-alerts-interval", "0.5", "--host-disk-path", "/tmp") as worker:
        host = None

        def samples():
            return value(DATABASE, "SELECT count(*) FROM ops.host_samples WHERE cpu_percent IS NOT NULL"
                                   " AND memory_percent IS NOT NULL AND disk_percent IS NOT NULL"
                                   " AND load1 IS NOT NULL AND worker_rss_bytes > 1000000")
        check("the worker writes a full host sample about twice a second",
              wait_until(10, lambda: samples() >= 4), tail(worker.output(), 3))
        host = value(DATABASE, "SELECT host FROM ops.host_samples ORDER BY at DESC LIMIT 1")
        figures = value(DATABASE, "SELECT bool_and(cpu_percent BETWEEN 0 AND 100 AND memory_percent BETWEEN 0 AND 100"
                                  " AND disk_percent BETWEEN 0 AND 100) FROM ops.host_samples")
        check(f"with figures in range, under this host's name ({host})", figures and host == os.uname().nodename)
        # The seeded rules with thresholds any host passes, and no 'for': both fire for this host.
        value(DATABASE, "UPDATE ops.alert_rules SET threshold = -1, for_duration = '0'"
                        " WHERE rule IN ('HighCpu', 'HighMemory') RETURNING 1")
        firing = lambda: value(DATABASE, "SELECT count(*) FROM ops.alerts WHERE rule IN ('HighCpu', 'HighMemory')"
                                         " AND state = 'firing' AND labels->>'host' = %s", (host,))
        check("the seeded CPU and memory alerts fire for this host, end to end", wait_until(10, lambda: firing() == 2),
              repr(firing()))
        value(DATABASE, "UPDATE ops.alert_rules SET threshold = 80, for_duration = '5 minutes' WHERE rule = 'HighCpu'"
                        " RETURNING 1")
        value(DATABASE, "UPDATE ops.alert_rules SET threshold = 90, for_duration = '5 minutes' WHERE rule = 'HighMemory'"
                        " RETURNING 1")
        worker.stop()


def main(work, cluster_base):
    heartbeat_drives_health(work)
    jobs_run_apart(work)
    host_samples_end_to_end(work)
    clean_shutdown(work)
    bad_configuration(work)
    secrets_stay_out(work)
    outage_and_restart(work, cluster_base)
    return finish()


if __name__ == "__main__":
    # Exits run backwards: the cluster runs again before the database and role are dropped.
    with fixtures.workdir("expense_ops_it.") as work, fixtures.worker_role(), fixtures.database(DATABASE), \
            fixtures.primary_restored() as cluster_base:
        sys.exit(main(work, cluster_base))
