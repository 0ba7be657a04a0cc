#!/usr/bin/python3
"""Two workers on one database (issue 11, section 6): each of the database's schedules (the
checks, the alert evaluation, the rollups, the partitions, the statement samples, the SLA
refresh) has one leader, the holder of a session-level advisory lock; the other stands by. When
the leader is killed (kill -9: its connection drops), the other takes over within two
intervals, and no check runs twice. Both beat, and both deliver.

Runs alone (prove, or /usr/bin/python3 FILE) in a database of its own; see fixtures.py.
"""

import datetime
import json
import os
import signal
import sys
import time

import fixtures
from fixtures import Worker, tail, value, wait_until
from tap import check, diag, finish

DATABASE = "expense_ops_ha"
INTERVAL = 2  # seconds, of every scheduled job here: "two intervals" is four seconds
LEADER_JOBS = ["checks", "evaluate-alerts", "maintain-partitions", "rollup-requests", "sample-statements",
               "sla-refresh"]


def start(work, name):
    arguments = ["--log-level", "debug", "--heartbeat-interval", "1", "--checks-interval", str(INTERVAL)]
    for job in LEADER_JOBS[1:]:
        arguments += [f"--{job}-interval", str(INTERVAL)]
    return Worker(os.path.join(work, f"{name}.log"), *arguments, worker_id=name,
                  dsn=fixtures.dsn(DATABASE, user="it_worker"))


def leads(worker, job):
    return f'"event":"leading","job":"{job}"' in worker.output()


def leading_at(worker, job):
    for line in worker.output().splitlines():
        if f'"event":"leading","job":"{job}"' in line:
            return datetime.datetime.fromisoformat(json.loads(line)["ts"].replace("Z", "+00:00")).timestamp()
    return None


def leader_locks():
    return value(DATABASE, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
                           "   AND classid = (hashtext('expense_ops.leader')::bigint & 4294967295)::oid")


def results(since=0):
    return fixtures.query(fixtures.connect(DATABASE),
                          "SELECT extract(epoch FROM started_at)::float8, outcome, worker FROM ops.check_results"
                          " WHERE check_id = 'ha.sql' AND started_at > to_timestamp(%s) ORDER BY started_at", (since,))


def main():
    with fixtures.worker_role(), fixtures.database(DATABASE), fixtures.workdir("ha-") as work:
        fixtures.query(fixtures.connect(DATABASE),
                       "INSERT INTO ops.checks (check_id, kind, target, every, timeout)"
                       " VALUES ('ha.sql', 'sql', 'SELECT true', '1 second', '1 second')")
        with start(work, "ha-a") as a, start(work, "ha-b") as b:
            check("both workers beat", wait_until(15, lambda: value(
                DATABASE, "SELECT count(*) FROM ops.worker_heartbeats WHERE last_seen > now() - interval '3 s'") == 2))
            check("each schedule has one leader",
                  wait_until(10, lambda: all(leads(a, job) != leads(b, job) for job in LEADER_JOBS)),
                  tail(a.output(), 3) + "\n" + tail(b.output(), 3))
            check("one advisory lock per schedule, six in all", wait_until(5, lambda: leader_locks() == 6),
                  str(leader_locks()))
            standing = [w for w in (a, b) if '"event":"standing_by"' in w.output()]
            check("the other stands by", len(standing) >= 1)
            leader, follower = (a, b) if leads(a, "checks") else (b, a)
            leader_id, follower_id = ("ha-a", "ha-b") if leader is a else ("ha-b", "ha-a")
            time.sleep(5)
            before = results()
            check("the check runs on the leader alone",
                  len(before) >= 3 and {r[2] for r in before if r[1] != "unknown"} == {leader_id}, repr(before[-5:]))
            leader.signal(signal.SIGKILL)
            killed_at = time.time()
            leader.wait()
            check("the other takes over every schedule",
                  wait_until(3 * INTERVAL, lambda: all(leads(follower, job) for job in LEADER_JOBS)),
                  tail(follower.output(), 5))
            took = max(leading_at(follower, job) or 1e12 for job in LEADER_JOBS) - killed_at
            diag(f"  the last schedule was taken over {took:.2f} s after the kill")
            check("within two intervals", took <= 2 * INTERVAL, f"{took:.2f} s")
            check("and the check runs again, on it",
                  wait_until(10, lambda: any(r[2] == follower_id and r[1] != "unknown" for r in results(killed_at))))
            time.sleep(3)
            after = results()
            runs = [r for r in after if r[1] != "unknown"]
            gaps = [later[0] - earlier[0] for earlier, later in zip(runs, runs[1:])]
            check("no run of the check came twice (no two within half its interval)",
                  gaps and min(gaps) >= 0.5, repr(sorted(gaps)[:3]))
            check("before the kill the leader's, after it the follower's",
                  all(r[2] == (leader_id if r[0] < killed_at else follower_id) for r in runs
                      if abs(r[0] - killed_at) > 1.5), repr([(round(r[0] - killed_at, 2), r[2]) for r in runs]))
            check("one advisory lock per schedule still", leader_locks() == 6, str(leader_locks()))
            follower.stop()
        # Each run logs its event (at debug when it did nothing): none comes before its job's lead.
        events = {"checks": "check_results", "evaluate-alerts": "evaluate_alerts",
                  "maintain-partitions": "maintain_partitions", "rollup-requests": "rollup_requests",
                  "sample-statements": "sample_statements", "sla-refresh": "sla_refresh"}
        early = []
        for worker in (a, b):
            lines = worker.output().splitlines()
            for job, event in events.items():
                led = next((i for i, line in enumerate(lines) if f'"event":"leading","job":"{job}"' in line), len(lines))
                ran = next((i for i, line in enumerate(lines) if f'"event":"{event}"' in line), len(lines))
                if ran < led:
                    early.append((worker.log, job))
        check("neither worker ran a schedule before it led it", not early, repr(early))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
